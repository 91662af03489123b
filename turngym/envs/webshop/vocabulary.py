"""The word lists the catalogue generator draws from: WebShop's five categories and their products.

Each :class:`ProductType` is one kind of product as WebShop's scraped catalogue has them:
its search ``query`` (WebShop's ``query`` field, e.g. ``"deodorant"``), the nouns a title
uses for it, its Amazon-style ``product_category`` path, the attributes a product of that
kind can have (WebShop's ``Attributes``, the phrases goals ask for) and its buying options
(``customization_options``: option name -> values, lower case as WebShop stores them).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProductType:
    """One kind of product (see the module docstring)."""

    query: str
    nouns: tuple[str, ...]
    path: str
    attributes: tuple[str, ...]
    options: dict[str, tuple[str, ...]]
    price: tuple[float, float]


_COLORS = ("black", "white", "navy blue", "grey", "beige", "red", "green", "pink", "brown", "khaki",
           "burgundy", "olive", "light blue", "charcoal")
_WOOD = ("walnut", "white", "black", "grey", "natural", "espresso", "oak", "rustic brown")
_CLOTH_SIZES = ("x-small", "small", "medium", "large", "x-large", "xx-large", "3x-large")
_SHOE_SIZES = ("6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12", "13")
_BED_SIZES = ("twin", "full", "queen", "king", "california king")
_SCENTS = ("lavender", "citrus", "unscented", "coconut", "eucalyptus mint", "cedarwood", "rose",
           "vanilla", "sandalwood", "cucumber melon")
_FOOD_PACKS = ("4 ounce (pack of 1)", "4 ounce (pack of 2)", "8 ounce (pack of 3)", "12 ounce (pack of 6)",
               "1 pound (pack of 1)", "2 pound (pack of 2)")

CATEGORIES: dict[str, tuple[ProductType, ...]] = {
    "beauty": (
        ProductType("deodorant", ("deodorant", "deodorant stick"),
                    "Beauty & Personal Care › Personal Care › Deodorants & Antiperspirants › Deodorants",
                    ("aluminum free", "long lasting", "natural ingredients", "sensitive skin", "paraben free",
                     "cruelty free", "travel size", "alcohol free", "baking soda free", "vegan"),
                    {"scent": _SCENTS, "size": ("2.65 ounce (pack of 1)", "2.65 ounce (pack of 2)",
                                                "3 ounce (pack of 3)")}, (5.0, 28.0)),
        ProductType("shampoo", ("shampoo", "hair shampoo"),
                    "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos",
                    ("sulfate free", "paraben free", "dry hair", "hair growth", "natural ingredients",
                     "tea tree", "argan oil", "color treated", "damaged hair", "cruelty free"),
                    {"size": ("8 fl oz", "12 fl oz", "16.9 fl oz", "33.8 fl oz"), "scent": _SCENTS},
                    (6.0, 45.0)),
        ProductType("lipstick", ("lipstick", "lip stick", "liquid lipstick"),
                    "Beauty & Personal Care › Makeup › Lips › Lipstick",
                    ("long lasting", "matte finish", "cruelty free", "paraben free", "highly pigmented",
                     "waterproof", "easy apply", "vegan", "moisturizing", "smudge proof"),
                    {"color": ("ruby red", "nude pink", "berry", "coral", "mauve", "plum", "classic red",
                               "rose gold", "deep wine")}, (4.0, 32.0)),
        ProductType("face moisturizer", ("face moisturizer", "face cream", "moisturizing cream"),
                    "Beauty & Personal Care › Skin Care › Face › Creams & Moisturizers › Face Moisturizers",
                    ("hyaluronic acid", "dry skin", "sensitive skin", "fragrance free", "anti aging",
                     "oil free", "vitamin c", "non greasy", "dermatologist tested", "fine lines"),
                    {"size": ("1 ounce", "1.7 ounce", "3.4 ounce")}, (8.0, 70.0)),
        ProductType("hair extensions", ("hair extensions", "clip in hair extension", "hair piece"),
                    "Beauty & Personal Care › Hair Care › "
                    "Hair Extensions, Wigs & Accessories › Hair Extensions",
                    ("natural looking", "clip in", "high quality", "heat resistant", "easy to use",
                     "synthetic hair", "human hair", "long lasting", "tangle free"),
                    {"color": ("natural black", "dark brown", "light brown", "blonde", "auburn",
                               "ash blonde"),
                     "size": ("14 inch", "16 inch", "20 inch", "24 inch")}, (12.0, 120.0)),
        ProductType("nail polish", ("nail polish", "gel nail polish", "nail lacquer"),
                    "Beauty & Personal Care › Foot, Hand & Nail Care › Nail Art & Polish › Nail Polish",
                    ("long lasting", "quick dry", "non toxic", "high gloss", "chip resistant", "vegan",
                     "easy apply", "cruelty free"),
                    {"color": ("cherry red", "nude", "baby pink", "midnight blue", "glitter silver", "coral",
                               "black", "lilac")}, (3.0, 25.0)),
        ProductType("makeup brush set", ("makeup brush set", "makeup brushes", "brush kit"),
                    "Beauty & Personal Care › Tools & Accessories › Makeup Brushes & Tools › Brush Sets",
                    ("synthetic bristles", "travel size", "easy clean", "high quality", "cruelty free",
                     "soft bristles", "storage case"),
                    {"style": ("10 piece", "14 piece", "18 piece"), "color": ("rose gold", "black", "pink",
                                                                            "marble white")}, (7.0, 40.0)),
    ),
    "grocery": (
        ProductType("ground coffee", ("ground coffee", "coffee", "coffee grounds"),
                    "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Coffee › Ground Coffee",
                    ("usda organic", "non gmo", "kosher certified", "fair trade", "low acid", "dark roast",
                     "medium roast", "gluten free", "single origin"),
                    {"flavor name": ("hazelnut", "vanilla", "french roast", "colombian", "decaf",
                                     "breakfast blend", "caramel"), "size": ("12 ounce (pack of 1)",
                                                                          "12 ounce (pack of 2)",
                                                                          "2 pound (pack of 1)")},
                    (7.0, 40.0)),
        ProductType("protein bars", ("protein bars", "protein bar", "snack bars"),
                    "Grocery & Gourmet Food › Snacks & Sweets › Snack Bars › Protein Bars",
                    ("gluten free", "low carb", "high protein", "keto friendly", "non gmo", "plant based",
                     "sugar free", "individually wrapped", "low sugar"),
                    {"flavor name": ("chocolate peanut butter", "cookie dough", "birthday cake",
                                     "salted caramel", "mint chocolate", "blueberry"),
                     "size": ("12 count (pack of 1)", "12 count (pack of 2)", "24 count")}, (9.0, 48.0)),
        ProductType("beef jerky", ("beef jerky", "jerky", "meat snack"),
                    "Grocery & Gourmet Food › Meat & Seafood › Jerky & Dried Meats › Beef Jerky",
                    ("high protein", "gluten free", "grass fed", "low fat", "no preservatives",
                     "keto friendly", "ready to eat", "resealable bag"),
                    {"flavor name": ("original", "teriyaki", "peppered", "sweet and spicy", "smoked"),
                     "size": _FOOD_PACKS}, (6.0, 45.0)),
        ProductType("herbal tea", ("herbal tea", "tea bags", "loose leaf tea"),
                    "Grocery & Gourmet Food › Beverages › Coffee, Tea & Cocoa › Tea › Herbal",
                    ("caffeine free", "usda organic", "non gmo", "kosher certified", "gluten free",
                     "individually wrapped", "natural ingredients"),
                    {"flavor name": ("chamomile", "peppermint", "ginger lemon", "hibiscus", "rooibos",
                                     "lavender"), "size": ("20 count (pack of 1)", "20 count (pack of 6)",
                                                           "100 count")}, (4.0, 30.0)),
        ProductType("olive oil", ("olive oil", "extra virgin olive oil", "cooking oil"),
                    "Grocery & Gourmet Food › Pantry Staples › "
                    "Cooking Oils, Vinegars & Sprays › Oils › Olive",
                    ("extra virgin", "cold pressed", "usda organic", "non gmo", "first cold press",
                     "kosher certified", "glass bottle"),
                    {"size": ("16.9 fl oz", "25.4 fl oz", "33.8 fl oz", "1 gallon")}, (8.0, 55.0)),
        ProductType("dark chocolate", ("dark chocolate", "chocolate bar", "chocolate"),
                    "Grocery & Gourmet Food › Snacks & Sweets › Chocolate › Chocolate Bars",
                    ("sugar free", "dairy free", "fair trade", "usda organic", "gluten free", "keto friendly",
                     "individually wrapped", "gift box"),
                    {"flavor name": ("sea salt", "almond", "orange", "mint", "raspberry", "85% cacao"),
                     "size": ("3 ounce (pack of 4)", "3.5 ounce (pack of 12)", "1 pound")}, (5.0, 38.0)),
        ProductType("crackers", ("crackers", "cracker snacks", "crisps"),
                    "Grocery & Gourmet Food › Snacks & Sweets › Crackers › Cracker Snacks",
                    ("gluten free", "whole grain", "non gmo", "plant based", "low sodium", "grain free",
                     "high fiber", "resealable bag"),
                    {"flavor name": ("sea salt", "rosemary", "everything", "cheddar", "black pepper"),
                     "size": _FOOD_PACKS}, (3.0, 30.0)),
    ),
    "fashion": (
        ProductType("men's running shoes", ("running shoes", "sneakers", "athletic shoes"),
                    "Clothing, Shoes & Jewelry › Men › Shoes › Athletic › Running › Road Running",
                    ("non slip", "rubber sole", "lightweight", "breathable", "arch support", "memory foam",
                     "lace up", "wide width", "shock absorbing"),
                    {"color": _COLORS, "size": _SHOE_SIZES}, (25.0, 140.0)),
        ProductType("women's t-shirt", ("t-shirt", "tee shirt", "tunic top"),
                    "Clothing, Shoes & Jewelry › Women › Clothing › Tops, Tees & Blouses › T-Shirts",
                    ("machine wash", "short sleeve", "long sleeve", "cotton spandex", "relaxed fit",
                     "soft material", "crew neck", "v neck", "polyester spandex"),
                    {"color": _COLORS, "size": _CLOTH_SIZES}, (8.0, 35.0)),
        ProductType("men's jeans", ("jeans", "denim jeans", "denim pants"),
                    "Clothing, Shoes & Jewelry › Men › Clothing › Jeans",
                    ("slim fit", "relaxed fit", "machine wash", "button closure", "stretch fabric",
                     "straight leg", "classic fit", "cotton spandex"),
                    {"color": ("dark wash", "light wash", "black", "stonewash", "indigo", "grey"),
                     "size": ("30w x 30l", "32w x 30l", "32w x 32l", "34w x 32l", "36w x 32l", "38w x 34l")},
                    (20.0, 90.0)),
        ProductType("hoodie", ("hoodie", "hooded sweatshirt", "pullover hoodie"),
                    "Clothing, Shoes & Jewelry › Men › Clothing › Active › Active Hoodies",
                    ("machine wash", "long sleeve", "fleece lined", "drawstring closure", "kangaroo pocket",
                     "relaxed fit", "soft material", "polyester cotton"),
                    {"color": _COLORS, "size": _CLOTH_SIZES}, (15.0, 70.0)),
        ProductType("women's dress", ("dress", "maxi dress", "midi dress"),
                    "Clothing, Shoes & Jewelry › Women › Clothing › Dresses › Casual",
                    ("short sleeve", "sleeveless", "machine wash", "high waist", "v neck", "floral print",
                     "polyester spandex", "button closure", "elastic waist"),
                    {"color": _COLORS, "size": _CLOTH_SIZES}, (18.0, 85.0)),
        ProductType("socks", ("socks", "crew socks", "ankle socks"),
                    "Clothing, Shoes & Jewelry › Men › Clothing › Socks & Hosiery › Athletic Socks",
                    ("moisture wicking", "cushioned sole", "cotton blend", "machine wash", "arch support",
                     "breathable", "non slip"),
                    {"color": ("black", "white", "grey", "assorted", "navy blue"),
                     "size": ("6 pairs", "10 pairs", "12 pairs")}, (6.0, 28.0)),
        ProductType("sunglasses", ("sunglasses", "polarized sunglasses", "sun glasses"),
                    "Clothing, Shoes & Jewelry › Men › "
                    "Accessories › Sunglasses & Eyewear Accessories › Sunglasses",
                    ("uv protection", "polarized lenses", "lightweight", "metal frame", "scratch resistant",
                     "case included"),
                    {"color": ("black frame grey lens", "gold frame green lens", "tortoise brown",
                               "silver frame blue mirror")}, (9.0, 80.0)),
    ),
    "furniture": (
        ProductType("ottoman bench", ("ottoman bench", "storage ottoman", "footstool"),
                    "Home & Kitchen › Furniture › Living Room Furniture › Ottomans",
                    ("space saving", "living room", "storage space", "easy assemble", "high density foam",
                     "faux leather", "solid wood", "button tufted"),
                    {"color": ("grey", "beige", "navy blue", "black", "brown", "emerald green"),
                     "size": ("60x40x40cm", "80x40x45cm", "100x45x45cm")}, (30.0, 160.0)),
        ProductType("bedspread set", ("bedspread set", "quilt set", "coverlet set"),
                    "Home & Kitchen › Bedding › Quilts & Sets › Quilt Sets",
                    ("machine washable", "lightweight", "all season", "soft microfiber", "fade resistant",
                     "hypoallergenic", "pre washed"),
                    {"color": ("grey", "white", "navy blue", "sage green", "beige", "blush pink"),
                     "size": _BED_SIZES}, (25.0, 120.0)),
        ProductType("office chair", ("office chair", "desk chair", "task chair"),
                    "Home & Kitchen › Furniture › Home Office Furniture › Home Office Chairs › Desk Chairs",
                    ("lumbar support", "height adjustable", "easy assemble", "mesh back", "swivel wheels",
                     "heavy duty", "padded armrests", "ergonomic design"),
                    {"color": ("black", "grey", "white", "blue")}, (45.0, 260.0)),
        ProductType("bookshelf", ("bookshelf", "bookcase", "shelving unit"),
                    "Home & Kitchen › Furniture › Home Office Furniture › Bookcases",
                    ("easy assemble", "space saving", "solid wood", "metal frame", "storage space",
                     "living room", "industrial style"),
                    {"color": _WOOD, "size": ("3 tier", "4 tier", "5 tier")}, (35.0, 180.0)),
        ProductType("coffee table", ("coffee table", "center table", "cocktail table"),
                    "Home & Kitchen › Furniture › Living Room Furniture › Tables › Coffee Tables",
                    ("living room", "storage space", "easy assemble", "solid wood", "mid century",
                     "metal legs", "tempered glass"),
                    {"color": _WOOD}, (40.0, 250.0)),
        ProductType("bar stools", ("bar stools", "counter stools", "bar stool set"),
                    "Home & Kitchen › Furniture › "
                    "Game & Recreation Room Furniture › Home Bar Furniture › Barstools",
                    ("height adjustable", "swivel seat", "faux leather", "metal legs", "easy assemble",
                     "back support", "dining room"),
                    {"color": ("black", "grey", "white", "brown", "cream"), "size": ("set of 2", "set of 3",
                                                                                     "set of 4")},
                    (50.0, 220.0)),
        ProductType("blackout curtains", ("blackout curtains", "curtain panels", "window curtains"),
                    "Home & Kitchen › Home Décor › Window Treatments › Curtains & Drapes › Panels",
                    ("thermal insulated", "noise reducing", "living room", "machine washable", "grommet top",
                     "light blocking", "energy saving"),
                    {"color": ("grey", "navy blue", "beige", "black", "teal", "burgundy"),
                     "size": ("42w x 63l", "52w x 84l", "52w x 95l")}, (15.0, 70.0)),
    ),
    "electronics": (
        ProductType("usb microphone", ("usb microphone", "condenser microphone", "podcast microphone"),
                    "Electronics › Musical Instruments › Microphones & Accessories › Microphones › Condenser",
                    ("noise cancelling", "plug and play", "high quality", "easy setup", "mute button",
                     "gaming streaming", "cardioid pattern"),
                    {"color": ("black", "white", "pink", "silver")}, (20.0, 130.0)),
        ProductType("bluetooth speaker", ("bluetooth speaker", "portable speaker", "wireless speaker"),
                    "Electronics › Portable Audio & Video › "
                    "Portable Speakers & Docks › Portable Bluetooth Speakers",
                    ("water resistant", "long battery life", "hands free", "stereo sound", "bluetooth 5.0",
                     "deep bass", "built in microphone", "outdoor use"),
                    {"color": ("black", "blue", "red", "grey", "camo green")}, (18.0, 150.0)),
        ProductType("hdmi cable", ("hdmi cable", "hdmi cord", "high speed hdmi cable"),
                    "Electronics › Television & Video › Accessories › Cables › HDMI Cables",
                    ("high speed", "gold plated", "4k resolution", "braided cable", "ethernet support",
                     "plug and play", "durable design"),
                    {"size": ("3 ft", "6 ft", "10 ft", "15 ft", "25 ft"), "style": ("1 pack", "2 pack",
                                                                                   "3 pack")}, (5.0, 30.0)),
        ProductType("wireless earbuds", ("wireless earbuds", "bluetooth earbuds", "earphones"),
                    "Electronics › Headphones, Earbuds & Accessories › Earbuds",
                    ("noise cancelling", "fast charging", "long battery life", "water resistant",
                     "touch control", "charging case", "hands free", "bluetooth 5.0"),
                    {"color": ("black", "white", "navy blue", "rose gold")}, (15.0, 160.0)),
        ProductType("power bank", ("power bank", "portable charger", "battery pack"),
                    "Electronics › Cell Phones & Accessories › "
                    "Accessories › Chargers & Power Adapters › Portable Power Banks",
                    ("fast charging", "usb c", "high capacity", "led display", "compact size",
                     "travel friendly", "dual output"),
                    {"color": ("black", "white", "blue"), "size": ("10000mah", "20000mah", "26800mah")},
                    (14.0, 75.0)),
        ProductType("car subwoofer", ("car subwoofer", "subwoofer", "car audio subwoofer"),
                    "Electronics › Car & Vehicle Electronics › Car Electronics › Car Audio › Subwoofers",
                    ("high power", "deep bass", "easy install", "power amplifier", "slim design",
                     "low distortion", "heavy duty"),
                    {"size": ("8 inch", "10 inch", "12 inch"), "style": ("single", "dual", "with enclosure")},
                    (45.0, 320.0)),
        ProductType("tv wall mount", ("tv wall mount", "tv mount", "television bracket"),
                    "Electronics › Television & Video › "
                    "Accessories › TV Mounts, Stands & Turntables › TV Wall & Ceiling Mounts",
                    ("heavy duty", "easy install", "full motion", "tilt swivel", "space saving",
                     "cable management", "universal fit"),
                    {"size": ("26-55 inch", "32-65 inch", "42-85 inch")}, (16.0, 110.0)),
    ),
}

DESCRIPTIVE_WORDS: tuple[str, ...] = (
    "premium", "classic", "essential", "everyday", "deluxe", "original", "modern", "pro", "ultra",
    "signature", "advanced", "compact", "luxury", "daily", "elite", "pure",
)
"""Marketing words titles start with (after the brand)."""

BRAND_SYLLABLES: tuple[str, ...] = (
    "zer", "vo", "lan", "mi", "ko", "ra", "tes", "qui", "bel", "dor", "fa", "ny", "sol", "ver", "ta",
    "gri", "mon", "xo", "lu", "pex", "ar", "den", "cas", "il", "bro", "va", "tor", "en", "ho", "jin",
)
"""Syllables of the fictional brand names (two or three each)."""
