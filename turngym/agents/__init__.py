"""Who acts in an environment.

- :mod:`turngym.agents.base` - the text-level ``Agent`` protocol;
- :mod:`turngym.agents.scripted` - ``OracleAgent`` and ``RandomAgent``;
- :mod:`turngym.agents.openai_agent` - ``OpenAIAgent`` for any OpenAI-compatible endpoint;
- :mod:`turngym.agents.policy` - the token-level ``Policy`` protocol, ``SamplingParams``, ``Generation``;
- :mod:`turngym.agents.hf_policy` - ``HFPolicy`` (transformers, CPU or CUDA, LoRA via peft), with
  :mod:`~turngym.agents.sampling`, :mod:`~turngym.agents.kv_cache` and :mod:`~turngym.agents.cpu_linear`;
- :mod:`turngym.agents.vllm_policy` - ``VLLMPolicy`` (vLLM on a GPU);
- :mod:`turngym.agents.models` - ``smollm2_135m()``, the packaged SmolLM2-135M-Instruct;
- :mod:`turngym.agents.chat_template` - incremental templating with the prefix-property check.

Episodes are played by :mod:`turngym.rollout`. Nothing heavy is imported here: import the module
you need.
"""
