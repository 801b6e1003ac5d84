"""The only package that imports ``requests``: a probe and a range stream, nothing else.

Every response is checked here (status, Content-Range, validators) so that the rest of
the core only ever sees bytes that belong where it will write them, or an exception
from :mod:`rangetui.core.errors`. This file imports nothing, so that importing the
pure parsing helpers (:mod:`.headers`) never loads ``requests``.
"""
