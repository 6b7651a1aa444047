"""Reply threads: posts nested under the post they answer, at most MAX_THREAD_DEPTH levels.

Pure: no network, no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bsarchive.export.digest.model import DigestPost, ThreadNode

# Replies nest this many levels; deeper replies are listed flat under the fifth level.
MAX_THREAD_DEPTH = 5
# --- threads ----------------------------------------------------------------------------


def _order(post: DigestPost) -> tuple[datetime, str]:
    return (post.created_at, post.uri)


def thread(posts: Iterable[DigestPost]) -> list[ThreadNode]:
    """Arrange posts into threads, oldest first at every level.

    A reply sits under its parent when the parent is in ``posts``; otherwise (an orphan) it
    starts a thread of its own. Nesting stops at MAX_THREAD_DEPTH levels: deeper replies are
    listed, oldest first, under their ancestor at the last level. Each uri appears once (the
    first copy wins); a reply cycle is broken at its oldest post. Boosts are counts on the
    post, never copies, so nothing here duplicates a post.
    """
    by_uri: dict[str, DigestPost] = {}
    for post in posts:
        by_uri.setdefault(post.uri, post)
    ordered = sorted(by_uri.values(), key=_order)
    children: dict[str, list[DigestPost]] = {}
    roots: list[DigestPost] = []
    for post in ordered:
        parent = post.in_reply_to
        if parent is not None and parent != post.uri and parent in by_uri:
            children.setdefault(parent, []).append(post)
        else:
            roots.append(post)
    placed: set[str] = set()

    def descendants(post: DigestPost) -> list[DigestPost]:
        found: list[DigestPost] = []
        stack = list(children.get(post.uri, ()))
        while stack:
            child = stack.pop()
            if child.uri in placed:
                continue
            placed.add(child.uri)
            found.append(child)
            stack.extend(children.get(child.uri, ()))
        return sorted(found, key=_order)

    def build(post: DigestPost, depth: int) -> ThreadNode:
        placed.add(post.uri)
        if depth >= MAX_THREAD_DEPTH - 1:
            flat = tuple(ThreadNode(reply, ()) for reply in descendants(post))
            return ThreadNode(post, flat)
        replies = tuple(
            build(child, depth + 1)
            for child in children.get(post.uri, ())
            if child.uri not in placed
        )
        return ThreadNode(post, replies)

    result = [build(root, 0) for root in roots]
    # Posts in a reply cycle have a parent but no root; start a thread at the oldest one.
    for post in ordered:
        if post.uri not in placed:
            result.append(build(post, 0))
    result.sort(key=lambda node: _order(node.post))
    return result
