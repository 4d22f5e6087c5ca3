"""Text normalisation for the intent matcher: from a customer's message to content tokens.

A message becomes lower-case ASCII words: accents and punctuation go, apostrophes join, so
"don't" and "dont" meet. Filler and details are dropped; simple suffixes are cut (``hours`` →
``hour``); synonyms fold into one canonical token (``postage`` → ``ship``); and two words whose
meaning is not the sum of their parts become other tokens (``money back`` → ``refund money``).

The word lists are general customer-service English, written for any web shop, not tuned to one
knowledge base:

- filler: grammar, greetings, politeness, hedging and shop-context words ("hi there, I was
  wondering", "on your website");
- details: things a question names without changing what it asks: products, colours, people,
  times of day, home-market places and numbers ("the blue kettle I bought for my wife");
- foreign topics: words that put a question outside any web shop's customer service (other
  businesses and places, travel, weather, entertainment, homework). They stay in as tokens
  marked ``foreign``, for the matcher to weigh against a match;
- synonyms, hints (weaker synonyms) and phrases that fold wording variants together.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


def _split(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _split_on_commas(phrases: str) -> list[str]:
    return [phrase.strip() for phrase in phrases.split(",")]


# Words that carry no intent of their own. Question words that do ("where", "when", "long",
# "much") are deliberately kept: "how long" and "how much" separate delivery time from cost.
_FILLER = _split(
    """
    a able about above absolutely accidentally across actual actually advance advice advise
    after again ago all already alright also although always am an and annoyed any anybody
    anymore anyone anything anyway anywhere apologies apologise apologize app appreciate
    appreciated are around as asap ask asked asking assist assistance at based basically be
    because been before being below best bit both bother bothering btw but by bye can check
    checked checking cheers completely concerning confirm could curious currently d dear
    decide decided definitely department desk detail details did disappointed disturb do does
    doing done double down during each earlier either else entire entirely estimate estimated
    eta even ever every everybody everyone everything everywhere exactly excuse exist existing
    expect expected expecting feel few find fine folks for forget forgot forgotten found from
    frustrated fyi generally get gets getting give gives glad go goes going gone gonna good
    goodbye got gotten grateful great greetings guess guy guys had happen happened happening
    happens happy has have having he hear heard hello help her here hers hey hi him his hiya
    honestly hope hopefully how however i id idea if ill im in info information inside instead
    into is issue it its itself ive just keep kind kindly knew know last lately let lets like
    line live lives living ll lol look looking looks lot lots love m madam made make many may
    maybe me mean means meant mention mentioned might mine more most mr mrs ms must my myself
    need needs nice normally notice noticed now of ok okay on once one ones online only onto
    oops or otherwise our ours ourselves over part per perhaps piece pieces place placed
    placing please pls plz possible pretty probably problem process processed processing put
    question questions quite r rather re read realise realised realize realized really
    recently regarding regards request requested right run runs s said say says see seem seems
    seen sell selling sells she should show showed showing shown shows simply since sir site
    so some somebody somehow someone something somewhere sorry start started still stuff sure
    t team tell than thank thanks thankyou that thats the their theirs them then there theres
    these they theyd theyll theyre theyve thing things think this those though thought through
    thx till times to too totally tried trouble try trying twice ty type typed u uh um unable
    under understand unhappy until upset ur urgent urgently use used using usually ve version
    very via wait waited waiting wanna want wanted wanting was wat we web webshop website well
    were weve what whats whether which while who whole whom whose why will wish wishes with
    within wonder wondered wondering would write written wrote yeah yep yes yet you youd youll
    your youre yours yourself youve
    """
)

# Things a question names in passing. Deliberately broad: a question about "my headphones" is a
# warranty question whatever the headphones, and "in Utrecht" is still at home. The first line
# is the shop's own context: "at checkout" or "on the product page" says where, not what.
_DETAILS = _split(
    """
    basket brand cart checkout confirmation link login model original page profile quantity tag
    accessory appliance backpack bag bed belt bike blanket blender blouse boots bottle bowl
    bracelet cable camera candle cap chair charger cleaner clock coat coffee computer console
    cooker cup curtain cushion dishwasher dress drill duvet earbuds earrings fan fridge frame
    furniture glass glasses gloves grinder hat headphones heater helmet hoodie ipad iphone iron
    jacket jeans jewellery jewelry jumper kettle keyboard knife lamp laptop lens light mattress
    microwave mirror monitor mouse mug necklace oven pan pants perfume pillow plant plate
    playstation pot present printer purse razor rug sandals scarf sheet shirt shoe shoes shorts
    skirt sneakers socks sofa speaker spoon suit sunglasses sweater table tablet tea teapot tent
    tie toaster tool toy toys towel trainers trousers tshirt tv umbrella vacuum vase wallet
    watch xbox
    beige black blue brown gold green grey gray navy orange pink purple red silver white yellow
    birthday boyfriend brother child children dad daughter family father friend girlfriend
    grandma husband kid kids mom mother mum partner sister son student wife
    afternoon evening moment night oclock pm today tomorrow tonight yesterday
    couple eight eleven five four half hundred nine pair seven six ten three twelve twenty two
    amsterdam arnhem breda delft dutch eindhoven groningen haarlem hague holland leiden
    maastricht netherlands nijmegen nl rotterdam tilburg utrecht zwolle
    """
)

# Topics outside any shop's customer service, so that "is the zoo open on Sunday" or "my flight
# got cancelled" do not borrow the shop's hours or cancellation answer.
_FOREIGN = _split(
    """
    airline airport bus flight flights hotel metro taxi train tram
    cinema concert film movie museum netflix podcast poem song spotify story subscription zoo
    bakery barber butcher church dentist doctor embassy government gym hairdresser hospital
    lawyer library municipality passport pharmacy plumber police restaurant school station
    supermarket university
    beach cafe club mosque park pool pub temple theater theatre
    forecast rain snow temperature weather
    calculate equation homework math maths recipe translate
    capital election football politics president
    facebook instagram internet password router wifi
    appointment exam income insurance interview job loan medicine mortgage rent salary vaccine
    dating fuel horoscope joke league lottery parking petrol
    """
)

# Canonical word: words customers use for the same thing.
_SYNONYM_GROUPS = {
    "ship": "deliver delivery dispatch postage courier carrier driver send sent post posted",
    "cost": "price fee charge much expensive cheap amount euro eur pricing rate spend",
    "long": "soon quick quickly fast speed express",
    "not": (
        "no never cannot cant dont doesnt didnt isnt wont hasnt havent arent wasnt werent "
        "wouldnt couldnt shouldnt aint nothing"
    ),
    "wrong": "mistake incorrect mistaken accident",
    "order": "purchase bought buy parcel package shipment",
    "day": "week month year",
    "item": "product article",
    "customer": "buyer shopper client",
    "new": "first",
    "refund": "reimburse reimbursement",
    "pay": "payment paid",
    "option": "method way",
    "contact": (
        "reach phone call telephone email mail talk speak support touch ring dial reply "
        "respond answer response chat message hotline hold"
    ),
    "number": "nr",
    "person": "human agent representative operator staff employee",
    "arrive": "came come",
    "cancel": "cancellation",
    "change": "modify edit update amend correct",
    "repair": "fix",
    "damage": "broke broken crush crack smash dent bent shatter scratch torn tear ripped destroy",
    "faulty": "defective defect malfunction",
    "warranty": "guarantee cover covered",
    "exchange": "swap",
    "colour": "color",
    "card": "voucher certificate",
    "gift": "giftcard",
    "discount": "promo coupon promotion",
    "invoice": "receipt bill",
    "stock": "restock available availability",
    "store": "shop showroom outlet visit",
    "collect": "pickup pick collection",
    "track": "follow trace",
    "notify": "notification alert",
    "close": "shut",
    "holiday": "christmas xmas easter",
    "balance": "remaining",
    "duty": "tax customs",
    "deadline": "latest cutoff",
    "address": "postcode zipcode zip street house home",
    "valid": "expire expiry expiration validity",
    "later": "afterwards afterward",
    "international": "abroad overseas worldwide country outside foreign",
}

# Words that hint at a topic less surely than naming it: "France" may be a shipping destination
# or a geography question, "small" a size or a small order. They fold into the topic but count
# for less.
_HINT_GROUPS = {
    "international": (
        "america australia austria belgium britain canada china denmark england eu europe "
        "finland france germany greece ireland italy japan luxembourg norway poland portugal "
        "scotland spain states sweden switzerland uk us usa wales"
    ),
    "weekday": "monday tuesday wednesday thursday friday saturday sunday weekend weekday",
    "size": "big bigger small smaller large larger tight loose",
}
_HINT_QUALITY = 0.6

# Word pairs that are chit-chat although their words alone are not: "thanks so much" asks no
# price, "good morning" no opening time, "no worries" denies nothing.
_IDIOMS = frozenset(
    tuple(idiom.split())
    for idiom in _split_on_commas(
        "so much, very much, good morning, good afternoon, good evening, no idea, no worries, "
        "no problem, of course, in advance, quick question, quick one"
    )
)

# Two tokens, after filler and details are dropped and synonyms folded, that mean something else
# together, even with another token between them ("send an item back").
_PHRASE_GROUPS = {
    ("money", "back"): "refund money",
    ("much", "left"): "balance",
    ("cost", "back"): "refund cost",
    ("pay", "back"): "refund",
    ("ship", "back"): "return",
    ("change", "mind"): "return",
    ("sold", "out"): "stock",
    ("pick", "up"): "collect",
    ("cut", "off"): "deadline",
    ("next", "day"): "long",
    ("work", "day"): "day",
    ("business", "day"): "day",
}
# Words that only mean something inside a phrase above; alone they are dropped.
_PHRASE_ONLY = _split("back mind out up off next")
_PHRASE_GAP = 1  # other tokens allowed between the two words of a phrase

_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHE = re.compile(r"(?<=[a-z])['\u2019`](?=[a-z])")


@dataclass(frozen=True, slots=True)
class Token:
    word: str  # the word as written (after any typo correction), to trace its quality
    token: str  # the canonical stem it counts as
    quality: float  # 1.0 when the word names the token, less for a hint
    foreign: bool = False  # a topic no shop question is about


def words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text``; apostrophes join ("don't" becomes "dont")."""
    folded = _APOSTROPHE.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return _WORD.findall(folded.encode("ascii", "ignore").decode("ascii"))


def tokens(written: list[str]) -> list[Token]:
    """Content tokens of ``written``: filler and details dropped, the rest folded."""
    idioms = {
        at + offset
        for at in range(len(written) - 1)
        if (written[at], written[at + 1]) in _IDIOMS
        for offset in (0, 1)
    }
    folded = [
        _fold(word)
        for at, word in enumerate(written)
        if at not in idioms and not _is_ignored(word)
    ]
    result: list[Token] = []
    partners: set[int] = set()  # positions already used as the second word of a phrase
    for position, token in enumerate(folded):
        if position in partners:
            continue
        partner = _phrase_partner(folded, position)
        if partner is not None:
            partners.add(partner)
            meaning = _PHRASES[token.token, folded[partner].token]
            result.extend(Token(token.word, part, 1.0) for part in meaning)
        elif token.token not in _PHRASE_ONLY_STEMS:
            result.append(token)
    return result


def _phrase_partner(folded: list[Token], position: int) -> int | None:
    """Where the second word of a phrase starting at ``position`` is, if it starts one."""
    reach = range(position + 1, min(position + 2 + _PHRASE_GAP, len(folded)))
    first = folded[position].token
    return next((at for at in reach if (first, folded[at].token) in _PHRASES), None)


def _is_ignored(word: str) -> bool:
    """Whether ``word`` is filler or a detail, which say nothing about the intent."""
    return (
        word in _FILLER
        or any(character.isdigit() for character in word)  # 42, 3rd, 40k, ps5
        or stem(word) in _DETAIL_STEMS
    )


def stem(word: str) -> str:
    """A deliberately small suffix stripper: enough to make plurals and tenses meet.

    Both sides of a comparison go through it, so stems need not be real words ("damag").
    """
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) >= 5:
        return word[:-3] + "y"
    for suffix, minimum in (("ing", 6), ("ed", 5)):
        if word.endswith(suffix) and len(word) >= minimum:
            word = word[: -len(suffix)]
            break
    else:
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        # A final "e" comes and goes with suffixes (damage, damaged); dropping it makes them meet.
        if word.endswith("e") and len(word) > 3:
            word = word[:-1]
    # So does a doubled final letter (shipped, staff).
    return word[:-1] if len(word) > 3 and word[-1] == word[-2] else word


def _fold(word: str) -> Token:
    stemmed = stem(word)
    if stemmed in _HINTS:
        return Token(word, _HINTS[stemmed], _HINT_QUALITY)
    return Token(word, _SYNONYMS.get(stemmed, stemmed), 1.0, foreign=stemmed in _FOREIGN_STEMS)


def _compile(groups: dict[str, str]) -> dict[str, str]:
    return {
        stem(word): stem(canonical)
        for canonical, members in groups.items()
        for word in members.split()
    }


_SYNONYMS = _compile(_SYNONYM_GROUPS)
_HINTS = _compile(_HINT_GROUPS)
_DETAIL_STEMS = frozenset(stem(word) for word in _DETAILS)
_FOREIGN_STEMS = frozenset(stem(word) for word in _FOREIGN)
_PHRASES = {
    (_fold(first).token, _fold(second).token): tuple(_fold(part).token for part in meaning.split())
    for (first, second), meaning in _PHRASE_GROUPS.items()
}
_PHRASE_ONLY_STEMS = frozenset(stem(word) for word in _PHRASE_ONLY)

# Words worth correcting a typo to: those that carry meaning, and filler (a misspelt
# "wondering" must not weigh as an unknown topic).
CORRECTION_TARGETS = (
    _FILLER
    | _split(" ".join((*_SYNONYM_GROUPS.values(), *_HINT_GROUPS.values())))
    | _split(" ".join(word for pair in (*_PHRASE_GROUPS, *_IDIOMS) for word in pair))
)
# Words understood without the knowledge base, so never taken for typos. Details and foreign
# words are no correction targets, though: "bread" is not a typo of "Breda".
KNOWN_WORDS = CORRECTION_TARGETS | _DETAILS | _FOREIGN
