"""The prompt every edge model reads: a task's messages and tools rendered by the tokenizer's chat template.

One function for every edge: the tiny from-scratch model (its template lists tool names, chapter 4) and
SmolLM2 (its template, :mod:`netgpt_lite.edge.smollm`, lists each tool in the form ``tool_format`` asks
for) render through the same call, so training, evaluation, RL and the service all see the same text.

Example:
    >>> from netgpt_lite.edge.tiny_lm import train_tokenizer
    >>> tok = train_tokenizer(["hello"], vocab_size=300)
    >>> tools = [{"type": "function", "function": {"name": "ping",
    ...     "parameters": {"type": "object", "properties": {"site": {"type": "string"}}}}}]
    >>> render_prompt(tok, [{"role": "user", "content": "ping site A"}], tools)
    '<|bos|><|tools|>ping<|user|>ping site A<|assistant|>'
    >>> render_prompt(tok, [{"role": "user", "content": "ping site A"}], tools, tool_arguments=True)
    '<|bos|><|tools|>ping(site)<|user|>ping site A<|assistant|>'
"""

from __future__ import annotations

from collections.abc import Sequence


def render_prompt(tokenizer, messages: Sequence[dict], tools: Sequence[dict], **template_kwargs) -> str:
    """Render a task's messages and tools with the tokenizer's chat template, ending in the generation prompt.

    Args:
        tokenizer: Any Hugging Face tokenizer with a tool-aware chat template (the tiny edge's, SmolLM2's).
        messages: Chat messages ``[{"role": ..., "content": ...}]``.
        tools: Offered tools in OpenAI format.
        **template_kwargs: Template variables, e.g. ``tool_format="compact"`` (SmolLM2) or
            ``tool_arguments=True`` (the tiny edge).
    """
    return tokenizer.apply_chat_template(
        list(messages), tools=list(tools), tokenize=False, add_generation_prompt=True, **template_kwargs
    )
