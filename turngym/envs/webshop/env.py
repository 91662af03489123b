"""WebShopEnv: WebShop's shopping task on a generated (or loaded) catalogue, without Java or downloads.

An episode is one goal ("i need a sulfate free shampoo for dry hair, in size 16.9 fl oz, and
price lower than 30.00 dollars"). The agent searches, pages through results, opens
products, reads their sub-pages, chooses options and buys; buying ends the episode with
WebShop's reward (:mod:`turngym.envs.webshop.reward`).

Actions, in any of these forms:

- WebShop's own: ``search[query]`` and ``click[x]``, where ``x`` is one of
  ``info["available_actions"]["clickables"]`` (case does not matter): a product's asin, a
  button (``Next >``, ``< Prev``, ``Back to Search``, ``Description``, ``Features``,
  ``Reviews``, ``Buy Now``) or an option value (``large``); a line ``Action: click[x]`` or
  ``<action>click[x]</action>`` is read too;
- the project's shared formats: ``<search>query</search>``, ``<click>x</click>`` and OpenAI
  tool calls to ``search(query)`` and ``click(target)``.

``search`` needs the search page (``has_search_bar``), as in WebShop's interface. Anything
else (clicking what the page does not offer, an empty search, a malformed bracket) gets a
message naming what is clickable, ``valid_action`` 0, and the episode goes on.

Signals on every step: ``valid_action``, ``format``, ``goal_progress`` (how much the best
reward any viewed product with its chosen options would earn rose this step), and at
purchase ``r_type``, ``r_att``, ``r_option`` (1 when the goal asks for no option; WebShop
leaves it out), ``r_price`` and ``success`` (reward 1). The outcome is the reward;
``info["reward_info"]`` is WebShop's verbose breakdown. ``anchor`` is the page key (page,
query, results page, product, chosen options, sub-page).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from turngym.core.actions import MAX_ACTION_CHARS, ActionError, ParsedCall, ToolSpec
from turngym.core.env import Transition, TurnEnv
from turngym.core.messages import Action, Message, system, user
from turngym.envs.webshop import pages
from turngym.envs.webshop.catalogue import Catalogue, open_catalogue
from turngym.envs.webshop.pages import Element, PageState
from turngym.envs.webshop.products import Goal, Product, split_range
from turngym.envs.webshop.reward import MATCH_THRESHOLD, get_reward, token_set_score

SIGNALS: tuple[str, ...] = ("goal_progress", "r_type", "r_att", "r_option", "r_price", "success")
OBSERVATION_MODES: tuple[str, ...] = ("text", "text_rich", "html")

SEARCH_TOOL = ToolSpec(
    "search",
    "Search the shop (only on the search page): returns a page of matching products.",
    {"type": "object", "properties": {"query": {"type": "string", "description": "search keywords"}},
     "required": ["query"]},
    tag="search",
)
CLICK_TOOL = ToolSpec(
    "click",
    "Click something the page offers: a product id, a button (Next >, < Prev, Back to Search, "
    "Description, Features, Reviews, Buy Now) or an option value.",
    {"type": "object", "properties": {"target": {"type": "string", "description": "what to click"}},
     "required": ["target"]},
    tag="click",
)

SYSTEM_PROMPT = (
    "You are shopping on WebShop for the instruction shown on the page. Each turn, write exactly one "
    "action: search[your keywords] on the search page, or click[x] where x is something the page offers: "
    "a product id such as click[B0123ABCDE], a button such as click[Next >], click[< Prev], "
    "click[Back to Search], click[Description] or click[Buy Now], or an option such as click[large]. "
    "Choose the options the instruction asks for before click[Buy Now]; buying ends the episode and is "
    "scored on how well the product, its options and its price match the instruction."
)

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_WEBSHOP = re.compile(r"(?:action\s*:\s*)?(search|click)\s*\[(.*)\]", re.DOTALL | re.IGNORECASE)
_BRACKET = re.compile(r"\b(search|click)\s*\[", re.IGNORECASE)


def parse_webshop_action(text: str) -> tuple[str, str] | ActionError | None:
    """``"click[Buy Now]"`` -> ``("click", "Buy Now")``; ``None`` when the text has no such action.

    The whole text (reasoning in ``<think>`` removed), the inside of ``<action>...</action>``
    or the last non-empty line may be the action. A ``search[``/``click[`` that is not
    closed is an :class:`ActionError` (``malformed_action``).
    """
    if len(text) > MAX_ACTION_CHARS:
        return None  # the shared parser refuses it as too long
    visible = _THINK.sub(" ", text).strip()
    lowered = visible.lower()
    end = lowered.rfind("</action>")
    start = lowered.rfind("<action>", 0, end) if end != -1 else -1
    tagged = start != -1
    candidates = [visible[start + len("<action>"):end].strip()] if tagged else [visible]
    lines = [line.strip() for line in visible.splitlines() if line.strip()]
    if lines and not tagged:
        candidates.append(lines[-1])
    for candidate in candidates:
        match = _WEBSHOP.fullmatch(candidate)
        if match:
            return match.group(1).lower(), match.group(2).strip()
    if _BRACKET.search(visible):
        return ActionError("malformed_action", "the action is not of the form search[keywords] or click[x] "
                           "(an opening '[' needs its closing ']', and nothing may follow it)")
    return None


class WebShopEnv(TurnEnv):
    """WebShop on a seeded catalogue (module docstring).

    Args:
        num_products: size of the generated catalogue (default 100,000, WebShop's full size).
        catalogue_seed: which generated catalogue. ``num_goals``: its goals (default
            12,087 per 100,000 products as in WebShop, at least 2,000, at most ``num_products``).
        split: ``"train"`` (goals 1,500 on, the default), ``"eval"`` (500-1,499), ``"test"`` (0-499)
            or ``"all"``: where ``reset`` draws goals from (``options={"task_id": i}`` may pick any).
        observation_mode: ``"text"`` (default), ``"text_rich"`` or ``"html"``.
        items_path, attributes_path, human_instructions_path: WebShop's own files
            (``items_shuffle*.json``, ``items_ins_v2*.json``, ``items_human_ins.json``) instead of
            a generated catalogue; ``num_products`` then keeps the first that many (``None``: all).
        cache_dir: where catalogues and indexes are cached (``None``: ``$TURNGYM_CACHE`` or
            ``~/.cache/turngym``; ``False``: build in memory, cache nothing).
        show_attrs: offer the Attributes sub-page (WebShop's ``show_attrs``).
        show_actions: end each observation with the list of what can be clicked.
        max_query_chars: longer searches are refused (a few keywords are what a search needs).
        max_turns, max_invalid_turns, **kwargs: :class:`~turngym.core.TurnEnv`'s arguments.
    """

    signal_names: ClassVar[tuple[str, ...]] = SIGNALS
    tools: Sequence[ToolSpec] = (SEARCH_TOOL, CLICK_TOOL)

    def __init__(
        self,
        num_products: int | None = 100_000,
        *,
        catalogue_seed: int = 0,
        num_goals: int | None = None,
        split: str = "train",
        observation_mode: str = "text",
        items_path: str | os.PathLike[str] | None = None,
        attributes_path: str | os.PathLike[str] | None = None,
        human_instructions_path: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        show_attrs: bool = False,
        show_actions: bool = False,
        max_query_chars: int = 500,
        max_turns: int = 15,
        max_invalid_turns: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(max_turns=max_turns, max_invalid_turns=max_invalid_turns, **kwargs)
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode {observation_mode!r} not supported; accepted: "
                             f"{', '.join(OBSERVATION_MODES)}")
        if items_path is not None:
            files = {"items_path": items_path, "attributes_path": attributes_path,
                     "human_instructions_path": human_instructions_path, "num_products": num_products}
            self.catalogue: Catalogue = open_catalogue(files=files, cache_dir=cache_dir)
        else:
            if num_products is None:
                raise ValueError("num_products must be given for a generated catalogue")
            self.catalogue = open_catalogue(seed=catalogue_seed, num_products=num_products,
                                            num_goals=num_goals, cache_dir=cache_dir)
        goals = self.catalogue.goals
        self.split = split
        self.split_indices = split_range(split, len(goals))
        if len(self.split_indices) == 0:
            raise ValueError(
                f"split {split!r} has no goals: this catalogue has {len(goals)} goals (test 0-499, eval "
                "500-1,499, train 1,500 on); use a catalogue with more goals or split='all'")
        self.observation_mode = observation_mode
        self.show_attrs = bool(show_attrs)
        self.show_actions = bool(show_actions)
        self.max_query_chars = int(max_query_chars)
        self._goal_index = self.split_indices[0]
        self._goal: Goal = goals[self._goal_index]
        self._state = PageState()
        self._best = 0.0
        self._reward = 0.0
        self._elements: list[Element] = pages.search_page(self._goal.instruction_text)
        self._actions: dict[str, Any] = pages.clickables(self._elements)
        self._oracle_queries: dict[int, str] = {}

    # ----- public helpers -------------------------------------------------------------

    @property
    def goal(self) -> Goal:
        """The current goal."""
        return self._goal

    @property
    def goals(self) -> list[Goal]:
        """Every goal of the catalogue, in WebShop's order (splits index it)."""
        return self.catalogue.goals

    @property
    def page(self) -> PageState:
        """Where the shopper is (a copy)."""
        return PageState.from_dict(self._state.to_dict())

    def available_actions(self) -> dict[str, Any]:
        """WebShop's ``get_available_actions`` for the current page."""
        return {"has_search_bar": self._actions["has_search_bar"],
                "clickables": list(self._actions["clickables"])}

    def render_page(self, mode: str | None = None) -> str:
        """The current page as ``"text"``, ``"text_rich"`` or ``"html"`` (default: the observation mode)."""
        mode = mode or self.observation_mode
        if mode == "text":
            return pages.render_text(self._elements)
        if mode == "text_rich":
            return pages.render_text_rich(self._elements)
        if mode == "html":
            return pages.render_html(self._elements, title=f"WebShop · goal {self._goal_index}")
        raise ValueError(f"unknown page mode {mode!r}; accepted: {', '.join(OBSERVATION_MODES)}")

    # ----- TurnEnv hooks --------------------------------------------------------------

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        goals = self.catalogue.goals
        if "task_id" in options:
            raw = options["task_id"]
            try:
                index = int(str(raw).strip())
            except ValueError:
                index = -1
            if not 0 <= index < len(goals):
                raise ValueError(f"unknown task_id {raw!r}; task ids are goal indices 0-{len(goals) - 1} "
                                 f"(this split, {self.split!r}, draws from {self.split_indices.start}-"
                                 f"{self.split_indices.stop - 1})")
        else:
            index = self.split_indices[int(self.np_random.integers(len(self.split_indices)))]
        self._goal_index = index
        self._goal = goals[index]
        self._state = PageState()
        self._best = 0.0
        self._reward = 0.0
        self._build_page()
        return str(index), [system(SYSTEM_PROMPT), user(self._observation())]

    def _parse(self, action: Any) -> list[ParsedCall] | ActionError:
        text = None
        if isinstance(action, str):
            text = action
        elif isinstance(action, Mapping) and not action.get("tool_calls"):
            content = action.get("content")
            text = content if isinstance(content, str) else None
        if text is not None:
            found = parse_webshop_action(text)
            if isinstance(found, tuple):
                name, argument = found
                return [ParsedCall(name, {"query" if name == "search" else "target": argument})]
            if isinstance(found, ActionError):
                return ActionError(found.kind, f"{found.message}. {self._hint()}")
        parsed = super()._parse(action)
        if isinstance(parsed, ActionError):
            return ActionError(parsed.kind, f"{parsed.message} {self._hint()}")
        return parsed

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        call = calls[0]
        if call.name == "search":
            return self._search(call, call.arguments.get("query"))
        return self._click(call, call.arguments.get("target"))

    def _anchor(self) -> str:
        s = self._state
        if s.kind == "search":
            return f"{self._goal_index}|search"
        options = json.dumps(s.options, sort_keys=True) if s.options else ""
        return f"{self._goal_index}|{s.kind}|{s.keywords}|{s.page}|{s.asin}|{options}|{s.sub}"

    def _info(self, signals: dict[str, float]) -> dict[str, Any]:
        info = super()._info(signals)
        info["available_actions"] = self.available_actions()
        return info

    # ----- pages ----------------------------------------------------------------------

    def _product(self, asin: str) -> Product:
        product = self.catalogue.product(asin)
        if product is None:  # only a corrupt catalogue gets here
            raise RuntimeError(f"product {asin!r} is in the search index but not in the catalogue")
        return product

    def _build_page(self) -> None:
        s, instruction = self._state, self._goal.instruction_text
        if s.kind == "search":
            self._elements = pages.search_page(instruction)
        elif s.kind == "results":
            listings = [self.catalogue.listing(a) for a in s.page_asins()]
            self._elements = pages.results_page(instruction, s, listings)
        elif s.kind == "item":
            self._elements = pages.item_page(instruction, s, self._product(s.asin), self.show_attrs)
        elif s.kind == "sub":
            self._elements = pages.sub_page(instruction, s, self._product(s.asin))
        else:
            self._elements = pages.done_page(self._reward)
        self._actions = pages.clickables(self._elements)

    def _observation(self) -> str:
        content = self.render_page()
        if self.show_actions and self._state.kind != "done":
            if self.observation_mode == "html":
                hint = html.escape(self._hint())
                return content.replace("</main>", f'<p id="available-actions">{hint}</p>\n</main>', 1)
            content += "\n\n" + self._hint()
        return content

    def _hint(self) -> str:
        actions = self._actions
        clickable = [c for c in actions["clickables"] if c != "search"]
        parts = ["search[keywords]"] if actions["has_search_bar"] else []
        if clickable:
            parts.append("click[x] with x one of: " + ", ".join(clickable))
        return "Available actions: " + ("; ".join(parts) if parts else "none (the episode is over)") + "."

    def _show(self, call: ParsedCall, signals: dict[str, float] | None = None) -> Transition:
        self._build_page()
        return Transition([self.reply_to(call, self._observation())], signals or {})

    # ----- actions --------------------------------------------------------------------

    def _search(self, call: ParsedCall, query: Any) -> Transition:
        if not isinstance(query, str) or not query.strip():
            return self.refuse(call, f"the search is empty; write search[a few keywords]. {self._hint()}",
                               "empty_query")
        if len(query) > self.max_query_chars:
            return self.refuse(call, f"the search is {len(query)} characters; at most "
                               f"{self.max_query_chars}. Search with a few keywords. {self._hint()}",
                               "query_too_long")
        if self._state.kind != "search":
            return self.refuse(call, f"there is no search bar on this page; click[Back to Search] first. "
                               f"{self._hint()}", "no_search_bar")
        keywords = " ".join(query.lower().split())
        self._state = PageState(kind="results", keywords=keywords, page=1,
                                results=list(self.catalogue.search(keywords)), visited=[])
        return self._show(call)

    def _click(self, call: ParsedCall, target: Any) -> Transition:
        if not isinstance(target, str) or not target.strip():
            return self.refuse(call, f"click what? write click[x]. {self._hint()}", "empty_click")
        name = target.strip().lower()
        clickable = self._actions["clickables"]
        if name == "search" and "search" in clickable:
            return self.refuse(call, f"to search, write search[your keywords]. {self._hint()}",
                               "click_search")
        if name not in clickable:
            return self.refuse(call, f"{target.strip()!r} is not clickable on this page. {self._hint()}",
                               "not_clickable")
        s = self._state
        if name == pages.BUY_NOW.lower():
            return self._buy(call)
        if name == pages.BACK_TO_SEARCH.lower():
            self._state = PageState()
            return self._show(call)
        if name == pages.NEXT_PAGE.lower():
            s.page += 1
            return self._show(call)
        if name == pages.PREV_PAGE.lower():
            if s.kind == "results":
                s.page -= 1
            elif s.kind == "item":
                s.kind, s.asin, s.options = "results", "", {}
            else:
                s.kind, s.sub = "item", ""
            return self._show(call)
        sub = next((p for p in pages.SUB_PAGES if p.lower() == name), None)
        if sub is not None and s.kind == "item":
            s.kind, s.sub = "sub", sub
            return self._show(call)
        if s.kind == "results":
            asin = next(a for a in s.page_asins() if a.lower() == name)
            s.kind, s.asin, s.options = "item", asin, {}
            if asin not in s.visited:
                s.visited.append(asin)
            return self._show(call, {"goal_progress": self._progress()})
        group = [e.group for e in self._elements if e.kind == "option" and e.text == name][-1]
        s.options[group] = name
        return self._show(call, {"goal_progress": self._progress()})

    def _progress(self) -> float:
        """How much the best reward of any viewed product (with its chosen options) rose."""
        product = self._product(self._state.asin)
        score = get_reward(product, self._goal, product.price, self._state.options).total
        gain = max(0.0, score - self._best)
        self._best = max(self._best, score)
        return gain

    def _buy(self, call: ParsedCall) -> Transition:
        product = self._product(self._state.asin)
        reward = get_reward(product, self._goal, product.price, self._state.options)
        self._reward = reward.total
        self._state.kind = "done"
        self._build_page()
        success = reward.total >= 1.0 - 1e-9
        signals = {"r_type": reward.r_type, "r_att": reward.r_att,
                   "r_option": 1.0 if reward.r_option is None else reward.r_option,
                   "r_price": float(reward.r_price), "success": float(success)}
        info = {"reward_info": reward.info(self._goal), "purchased": {
            "asin": product.asin, "options": dict(self._state.options), "price": product.price}}
        return Transition([self.reply_to(call, self._observation())], signals, terminated=True,
                          outcome=reward.total, info=info)

    # ----- oracle and state -----------------------------------------------------------

    def oracle_action(self) -> Action | None:
        """Search (the instruction, else the target's title), open the target, choose its options, buy."""
        s, goal = self._state, self._goal
        if s.kind == "done":
            return None
        if s.kind == "search":
            return f"search[{self._oracle_query()}]"
        if s.kind == "sub":
            return f"click[{pages.PREV_PAGE}]"
        if s.kind == "results":
            if goal.asin not in s.results:
                return f"click[{pages.BACK_TO_SEARCH}]"
            target_page = s.results.index(goal.asin) // pages.PRODUCT_WINDOW + 1
            if target_page > s.page:
                return f"click[{pages.NEXT_PAGE}]"
            if target_page < s.page:
                return f"click[{pages.PREV_PAGE}]"
            return f"click[{goal.asin}]"
        if s.asin != goal.asin:
            return f"click[{pages.PREV_PAGE if goal.asin in s.results else pages.BACK_TO_SEARCH}]"
        for group, value in self._oracle_options():
            if s.options.get(group) != value:
                return f"click[{value}]"
        return f"click[{pages.BUY_NOW}]"

    def _oracle_query(self) -> str:
        index = self._goal_index
        if index not in self._oracle_queries:
            goal = self._goal
            instruction = goal.instruction_text.split(", and price lower than")[0]
            chosen = goal.name
            for query in (instruction, goal.name):
                if goal.asin in self.catalogue.search(" ".join(query.lower().split())):
                    chosen = query
                    break
            self._oracle_queries[index] = chosen
        return self._oracle_queries[index]

    def _oracle_options(self) -> list[tuple[str, str]]:
        """The target's (option name, value) closest to each goal option (exact where one is)."""
        product = self._product(self._goal.asin)
        pairs = [(g, v) for g, values in product.options.items() for v in values]
        chosen: list[tuple[str, str]] = []
        for wanted in self._goal.goal_options:
            exact = [(g, v) for g, v in pairs if v == wanted]
            if exact:
                best = exact[0]
            else:
                scored = [(token_set_score(v, wanted), g, v) for g, v in pairs]
                top = max(scored, default=(0, "", ""))
                if top[0] <= MATCH_THRESHOLD:
                    continue
                best = (top[1], top[2])
            if all(g != best[0] for g, _ in chosen):
                chosen.append(best)
        return chosen

    def get_state(self) -> dict[str, Any]:
        """Everything that defines this episode's state (plain data, safe to deep-copy or pickle)."""
        return {**self.base_state(), "page": self._state.to_dict(), "best": self._best,
                "reward": self._reward}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`get_state` snapshot (of this environment's catalogue)."""
        index = int(state["task_id"])
        if not 0 <= index < len(self.catalogue.goals):
            raise ValueError(f"state is for goal {index}, which this catalogue does not have")
        self.restore_base_state(state)
        self._goal_index, self._goal = index, self.catalogue.goals[index]
        self._state = PageState.from_dict(dict(state["page"]))
        self._best, self._reward = float(state["best"]), float(state["reward"])
        self._build_page()
