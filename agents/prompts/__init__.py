"""Prompt files of the LLM strategy (package data, read with `agents.llm.load_prompt`)."""
