"""Language knowledge the few examples cannot teach: words that signal what is asked.

Twenty examples per use case cannot show every way to ask for a summary ("tl;dr",
"the gist", "les grandes lignes", "synthèse"). Each cue family below groups French and
English stems for one kind of request; the classifier gets one feature per family found
in the instruction and learns from the policy's examples how much each family counts
for each use case. Families carry no use-case label: a policy with other use cases
learns other weights. Stems are matched at a word start on normalised text (lower
case, no accents, punctuation as spaces).
"""

from __future__ import annotations

import re

CUES: dict[str, tuple[str, ...]] = {
    "summarise": (
        "summar", "summaris", "summariz", "sum up", "sum it up", "recap", "tl dr", "tldr", "gist", "key points",
        "main points", "key takeaways", "takeaways", "overview", "condense", "shorten", "boil", "in a nutshell",
        "brief", "resum", "synthes", "l essentiel", "grandes lignes", "points cles", "points essentiels",
        "en bref", "en quelques lignes", "a retenir", "condens",
    ),
    "translate": (
        "translat", "tradu", "into english", "into french", "into german", "into spanish", "into italian",
        "in english", "in french", "in german", "in spanish", "en anglais", "en francais", "en allemand",
        "en espagnol", "en italien", "en neerlandais", "en portugais", "how do you say", "how do i say",
        "comment dit on", "comment on dit", "the english for", "the french for", "word for", "version anglaise",
        "version espagnole", "version allemande", "version francaise", "german version", "english version",
    ),
    "ideas": (
        "ideas", "idea for", "suggest", "brainstorm", "ways to", "ways of", "tips", "some examples",
        "what are some", "give me some", "list some", "list of", "options for", "alternatives", "idees",
        "pistes", "des conseils", "astuces", "quelques exemples", "donne moi des", "propose des", "name some",
        "give me", "think of", "think up", "come up with", "name five", "name three", "name ten", "list the",
        "top 5", "top 10", "best ways", "trouve des", "quelques idees",
    ),
    "creative": (
        "poem", "story", "stories", "essay", "haiku", "lyrics", "song", "imagine", "fiction", "tale", "limerick",
        "creative", "poeme", "histoire", "conte", "nouvelle", "slogan", "pretend", "character", "fairy",
        "narrative", "rap", "joke", "blague", "write a paragraph", "ecris un texte", "write me a", "compose",
        "describe", "argue", "put yourself", "as a", "in the style", "dialogue", "invent", "raconte", "decris",
    ),
    "classify": (
        "classify", "categori", "which of these", "which of the following", "each of the following",
        "identify which", "sort the", "sort these", "group the", "label", "is it a", "are these", "classe",
        "categor", "lequel", "lesquels", "parmi", "which are", "which is a", "tell me whether", "tell me if",
        "odd one", "which one", "identify", "select the", "choose the", "pick the", "sort", "classe", "range",
        "tri", "or not", "ou non",
    ),
    "grounded": (
        "based on", "according to", "from the passage", "from the text", "from the paragraph", "given the",
        "reference text", "in the text", "in this text", "the passage", "the paragraph", "the text", "below",
        "above", "provided", "attached", "extract", "d apres", "selon", "dans le texte", "ci dessous",
        "ci dessus", "ci joint", "extrais", "ce texte", "ce document", "this document", "this article",
    ),
    "question": (
        "who", "what", "when", "where", "why", "how", "which", "whose", "is there", "qui", "quoi", "quand",
        "pourquoi", "comment", "quel", "quelle", "quels", "quelles", "est ce", "combien", "c est quoi",
    ),
    "code": (
        "code", "function", "script", "python", "sql", "javascript", "typescript", "java", "bash", "regex",
        "query", "api", "compile", "bug", "debug", "traceback", "exception", "stack trace", "unit test", "pytest",
        "class", "method", "variable", "dockerfile", "pipeline", "git", "vba", "macro", "excel formula",
        "fonction", "requete", "erreur", "programme", "pandas", "react", "json", "yaml", "powershell",
    ),
    "draft": (
        "write", "draft", "email", "e mail", "mail", "reply", "respond to", "rewrite", "reword", "rephrase",
        "letter", "message", "post", "proofread", "polish", "tone", "redige", "rediger", "ecris", "ecrire",
        "reformul", "courrier", "lettre", "reponse", "repondre", "reponds", "corrige", "ameliore", "mot d",
        "note de service", "annonce", "invitation",
    ),
    "analyse": (
        "analy", "compare", "comparison", "evaluat", "assess", "risk", "pros and cons", "implication",
        "recommend", "trade off", "should we", "should i", "reason", "step by step", "justif", "hypothes",
        "root cause", "decision", "weigh", "evalue", "risque", "avantages", "inconvenients", "faut il",
        "enjeux", "consequen", "strateg", "impact", "pese le pour", "recommande", "argument",
    ),
    "housekeeping": (
        "title", "tags", "tag", "follow up", "chat history", "conversation", "titre", "etiquette",
        "historique", "emoji", "json",
    ),
    "fact": (
        "when was", "when did", "when is", "what year", "which year", "in what year", "how many", "how much",
        "how long", "how old", "how big", "how tall", "how far", "what date", "where is", "where was", "where did",
        "which team", "who won", "who wrote", "who founded", "who invented", "who created", "who directed",
        "what is the name", "name of the", "quand", "en quelle annee", "combien", "ou se trouve", "qui a",
        "a quelle date", "quelle annee",
    ),
    "about": (
        "who is", "who was", "who are", "what is a", "what is an", "what is the", "what is", "what was", "what are",
        "tell me about", "tell me more", "describe", "explain", "introduce", "qui est", "qui etait", "qu est ce",
        "parle moi", "explique", "presente", "c est quoi",
    ),
    "list": (
        "list", "bullet", "enumerat", "give me a list", "name some", "examples of", "top", "some of the",
        "different types", "types of", "kinds of", "liste", "enumere", "exemples de", "what are some", "some ways",
        "different ways", "ways to",
    ),
    "howto": (
        "how do you", "how to", "how can i", "how do i", "how should", "how would", "steps", "best way", "tips",
        "comment faire", "comment puis je", "etapes", "comment bien", "la meilleure facon",
    ),
    "opinion": (
        "do you think", "should", "is it good", "is it worth", "is it better", "better", "your opinion",
        "would you", "what would", "if you could", "if you were", "penses tu", "pensez vous", "faut il",
        "vaut il mieux", "ton avis", "votre avis", "why do people", "why is", "why are", "why do", "why does",
        "pourquoi",
    ),
    "extract": (
        "extract", "from the passage", "from this", "from the following", "retrieve", "pull out", "find all",
        "names of", "mentioned", "cited", "separated by", "comma", "format", "extrais", "releve", "mentionne",
        "separe",
    ),
}

_PATTERNS: dict[str, re.Pattern[str]] = {
    family: re.compile(r"(?:^| )(?:" + "|".join(re.escape(stem) for stem in stems) + ")")
    for family, stems in CUES.items()
}


def cue_families(normalised: str) -> list[str]:
    """The cue families found in a normalised instruction."""
    return [family for family, pattern in _PATTERNS.items() if pattern.search(normalised)]


def opens_with_question(normalised: str) -> bool:
    """True when the instruction starts with a question word."""
    match = _PATTERNS["question"].match(normalised)
    return match is not None
