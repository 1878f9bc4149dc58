"""Read which product a shopping agent chose from its free-text answer.

The agent is shown a numbered listing and asked for a short explanation followed by a final
line ``Choice: <product number>`` (or ``Choice: none``). Real models often ignore that form,
so `parse_choice` tries several readings, most explicit first, and the first that applies
wins:

1. **Choice line** (``choice_line``). A labelled answer such as ``Choice: 2``,
   ``**Final choice:** Product 2`` or ``Choice: Tesla Model 3``. It comes first because it
   is what the prompt asks for: when a model writes one, it is its own summary of its
   decision, even if the explanation above it argues, hedges or apologises. The *last*
   such line wins, since models sometimes restate or correct themselves. ``Choice: none``
   (``N/A``, ``None of these`` ...) is a refusal. A whole answer that is only a number
   (``2``) is read the same way. An echoed answer form before the value is skipped
   (``Choice: [numeric product ID, digits only] 2``, ``Choice: <product number> 2``).
2. **JSON** (``json``). An object, bare or in a fenced block, with a key such as
   ``choice``, ``product_id`` or ``selection``; ``null`` or ``"none"`` is a refusal.
   Structured output is explicit, but it only comes second because a JSON object can
   also be an incidental part of a longer answer.
   **Deferred** (``deferred``, see `agents.parsing.deferral`): an answer that asks the
   customer to choose and whose choice lines name two or more products is checked first;
   one with no choice line or JSON choice is deferred unless its prose chose exactly the one
   product it names, outside a question.
3. **Prose** (``prose_id`` / ``prose_name``). Answers that ignore the form: "I recommend
   product 2", "The best option for you is the Ford Explorer". Every mention of a listed
   product (by id or by a distinctive part of its name) gets a standing from the words
   around it: endorsed (the object of recommend, choose, buy, "the best option is" ...),
   praised ("... is a good choice"), rejected (after unlike, rather than, over, not, a
   negated verb, or a refusal earlier in the same clause) or neutral. The one product
   with the best standing is the choice. A tie is reported as ambiguous rather than
   guessed, and so is a prose answer that only lists facts about several products. A
   product that is merely mentioned (neutral standing) is chosen only with other evidence:
   a refusal of the other products, or an answer that is the name alone or opens with it as
   a headline. Random text that happens to name a product is no choice.
   Short forms of a name ("Model 3", "Explorer") count only when no other listed product
   shares them, and generic words ("car", "film", "love") never do.
4. **Refusal** (``refusal``). "I'm sorry, but I cannot purchase ..." with nothing
   endorsed. It comes after prose so that "I cannot buy the propaganda film, but I
   recommend the romantic comedy" reads as a choice, while a refusal still beats a
   merely neutral mention of a product, unless the refusal was only about another
   product ("I cannot buy X. Y is a lovely film." chooses Y).
5. Otherwise ``unparsed`` with a reason; ``empty`` when there is no text at all.

The engine parses every answer of every tick, so a well-formed final ``Choice: N`` line is
recognised by one precompiled regex on the last line before anything else is built; the
per-listing name tables are cached. Answers over 100,000 characters are cut to their
first and last 50,000. `parse_choice` never raises: anything unexpected is reported as
an unparsed answer with the error's type as the reason.
"""

from agents.parsing.reader import parse_choice
from agents.parsing.results import METHODS, ParsedChoice

__all__ = ["METHODS", "ParsedChoice", "parse_choice"]
