"""``OpenAIAgent``: any OpenAI-compatible chat-completions endpoint (vLLM's server, hosted APIs) as an agent.

It follows the agent protocol (``name``, ``reset(seed)``, ``act(history, env)``):
the conversation goes to ``POST {base_url}/chat/completions`` with the
environment's tools (``env.unwrapped.tools`` as OpenAI tools, when the
environment accepts tool calls) and the seed; the reply becomes the action (the
text, or an assistant message dict with ``tool_calls``).

Transient failures are retried with exponential backoff (``backoff_s * 2**k``,
or the server's ``Retry-After``): HTTP 429 and 5xx, timeouts and dropped
connections. Anything else (4xx, a body that is not a chat completion) raises
:class:`OpenAIAgentError` at once with what was wrong. Works over ``requests``
only; no SDK needed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import requests

from turngym.core.messages import Action, Message

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class OpenAIAgentError(RuntimeError):
    """The endpoint failed for good (after retries) or answered something that is not a chat completion."""


class OpenAIAgent:
    """An agent backed by an OpenAI-compatible chat-completions endpoint.

    Args:
        model: the model name the endpoint serves.
        base_url: e.g. ``"http://127.0.0.1:8000/v1"`` (``/chat/completions`` is appended).
        api_key: sent as a bearer token when given.
        temperature, top_p, max_tokens: sampling settings sent with each request.
        seed: base seed; each episode's ``reset(seed)`` replaces it, and it is sent with every request.
        timeout_s: connect and read timeout of one request.
        max_retries: retries after the first attempt for 429/5xx/timeouts/dropped connections.
        backoff_s: the first retry's delay; it doubles each retry (capped at ``max_backoff_s``).
        use_tools: send the environment's tools (default: when it accepts ``tool_calls``).
        extra_body: more JSON fields for each request (e.g. vLLM's ``top_k``).
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int | None = 512,
        seed: int | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        use_tools: bool | None = None,
        extra_body: dict[str, Any] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if max_retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise ValueError("max_retries must be >= 0, timeout_s > 0 and backoff_s >= 0")
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.name = f"openai:{model}"
        self.api_key = api_key
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
        self.base_seed = self.seed = seed
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.use_tools = use_tools
        self.extra_body = dict(extra_body or {})
        self.session = session or requests.Session()
        self.last_response: dict[str, Any] | None = None

    def reset(self, seed: int | None = None) -> None:
        """Start an episode; ``seed`` (when given) is sent with every request of it."""
        self.seed = seed if seed is not None else self.base_seed

    def act(self, history: Sequence[Message], env: Any) -> Action:
        """Send the conversation, return the model's reply as an action."""
        body: dict[str, Any] = {
            "model": self.model, "messages": list(history), "temperature": self.temperature,
            **self.extra_body,
        }
        for key, value in (("top_p", self.top_p), ("max_tokens", self.max_tokens), ("seed", self.seed)):
            if value is not None:
                body[key] = value
        tools = self._tools(env)
        if tools:
            body["tools"] = tools
        data = self._post(body)
        self.last_response = data
        return _action(data, self.url)

    def _tools(self, env: Any) -> list[dict[str, Any]]:
        unwrapped = getattr(env, "unwrapped", env)
        specs = getattr(unwrapped, "tools", ()) or ()
        wanted = self.use_tools
        if wanted is None:
            wanted = "tool_calls" in tuple(getattr(unwrapped, "action_formats", ()))
        return [spec.to_openai() for spec in specs] if wanted else []

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        problem = ""
        for attempt in range(self.max_retries + 1):
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            try:
                response = self.session.post(self.url, json=body, headers=headers, timeout=self.timeout_s)
            except requests.Timeout:
                problem = f"no answer within {self.timeout_s} s"
            except requests.ConnectionError as exc:
                problem = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                if response.status_code == 200:
                    try:
                        data = response.json()
                    except ValueError:
                        raise OpenAIAgentError(
                            f"{self.url} answered 200 with a body that is not JSON: {response.text[:200]!r}"
                        ) from None
                    if not isinstance(data, dict):
                        raise OpenAIAgentError(
                            f"{self.url} answered JSON that is not an object: {data!r:.200}"
                        )
                    return data
                if response.status_code not in RETRY_STATUSES:
                    raise OpenAIAgentError(
                        f"{self.url} answered HTTP {response.status_code}: {response.text[:300]!r} "
                        "(not retried: only 408/409/429/5xx, timeouts and dropped connections are)"
                    )
                problem = f"HTTP {response.status_code}: {response.text[:200]!r}"
                delay = _retry_after(response, delay, self.max_backoff_s)
            if attempt < self.max_retries:
                time.sleep(delay)
        raise OpenAIAgentError(f"{self.url} failed after {self.max_retries + 1} attempt(s); last: {problem}")


def _retry_after(response: requests.Response, default: float, cap: float) -> float:
    value = response.headers.get("Retry-After")
    try:
        return min(cap, max(0.0, float(value))) if value is not None else default
    except ValueError:
        return default


def _action(data: dict[str, Any], url: str) -> Action:
    """The assistant's turn from a chat completion, or a clear error saying what is missing."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        error = data.get("error")
        detail = f" (error: {error!r:.200})" if error else ""
        raise OpenAIAgentError(
            f"{url} answered without choices[0]; not a chat completion: {data!r:.200}{detail}"
        )
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise OpenAIAgentError(f"{url} answered choices[0] without a message object: {choices[0]!r:.200}")
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is not None and not isinstance(content, str):
        raise OpenAIAgentError(f"{url} answered message content of type {type(content).__name__}, not text")
    if calls:
        if not isinstance(calls, list) or not all(isinstance(c, dict) and "function" in c for c in calls):
            raise OpenAIAgentError(f"{url} answered malformed tool_calls: {calls!r:.200}")
        normalised = []
        for index, call in enumerate(calls):
            function = call["function"]
            arguments = function.get("arguments", "{}")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            normalised.append({
                "id": str(call.get("id") or f"call_{index}"), "type": "function",
                "function": {"name": str(function.get("name", "")), "arguments": arguments},
            })
        return {"role": "assistant", "content": content, "tool_calls": normalised}
    if content is None:
        raise OpenAIAgentError(
            f"{url} answered a message with neither content nor tool_calls: {message!r:.200}"
        )
    return content
