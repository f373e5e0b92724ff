"""A FastAPI chat app that collects its users' feedback with Assay (see ``main``).

The runnable copy is ``examples/chat_app`` in the repository (``uvicorn
examples.chat_app.main:app``); ``assay demo`` drives this one in-process.
"""
