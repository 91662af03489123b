"""Register WebShop's ids (string entry points only: importing this is cheap)."""

from turngym.core.registry import register

_ENTRY = "turngym.envs.webshop.env:WebShopEnv"

register("WebShop-v0", _ENTRY,
         "WebShop shopping over a generated 100,000-product catalogue, WebShop's reward (cached on disk)")
register("WebShop-Small-v0", _ENTRY,
         "WebShop shopping over a generated 2,000-product catalogue (builds in about a second)",
         num_products=2_000)
