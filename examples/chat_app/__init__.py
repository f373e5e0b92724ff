"""A FastAPI chat app that collects its users' feedback with Assay.

Run it from the repository root with ``uvicorn examples.chat_app.main:app --port 8001``; see
``README.md`` in this folder. Its code is :mod:`assay.examples.chat_app`.
"""
