"""The review app: where experts answer a labeling session's questions, item by item, at
``/review`` (a session's ``url`` is ``/review/<run_id>``).

``pages.py`` holds the routes; ``reviewer.py`` who reviews and what they may open;
``questions.py`` the form (a control per label schema input, and the answers read back);
``conversation.py`` the trace as a conversation. The templates are in
``templates/review/``; ``static/review.js`` adds the keyboard and the in-place next item.

The package itself imports nothing (``pages.build_review_router`` gives the routes), so the
web UI's owner pages can use ``questions.py`` without a cycle through the routes.
"""
