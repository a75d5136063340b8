"""A deterministic generator of synthetic HPB clinical text for the search benchmark (no Django import).

Documents read like radiology reports, operative notes, pathology reports, MDT summaries and letters:
sentences from templates whose slots are filled from HPB vocabulary with skewed (Zipf-like) frequencies,
so some terms are in most documents ("liver"), some in a few percent ("Whipple"), and a handful are rare
("Mirizzi" in about 1 in 2,000). The same seed always gives the same corpus.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

SEGMENTS = ["I", "II", "III", "IVa", "IVb", "V", "VI", "VII", "VIII"]
PHASES = ["arterial", "portal venous", "delayed", "hepatobiliary", "late arterial"]
LESIONS = [
    "hypervascular lesion",
    "hypodense lesion",
    "colorectal liver metastasis",
    "hepatocellular carcinoma",
    "intrahepatic cholangiocarcinoma",
    "simple cyst",
    "haemangioma",
    "focal nodular hyperplasia",
    "hepatic adenoma",
    "abscess",
    "biliary cystadenoma",
    "neuroendocrine tumour metastasis",
]
VESSELS = [
    "right portal vein",
    "left portal vein",
    "main portal vein",
    "middle hepatic vein",
    "right hepatic vein",
    "left hepatic vein",
    "inferior vena cava",
    "common hepatic artery",
    "superior mesenteric vein",
    "superior mesenteric artery",
    "coeliac trunk",
    "gastroduodenal artery",
]
RELATIONS = ["abutted", "encased", "displaced", "not involved", "compressed", "invaded", "free"]
PROCEDURES = [
    "right hepatectomy",
    "left hepatectomy",
    "extended right hepatectomy",
    "segmentectomy",
    "non-anatomical wedge resection",
    "laparoscopic left lateral sectionectomy",
    "pancreaticoduodenectomy",
    "pylorus-preserving Whipple procedure",
    "distal pancreatectomy with splenectomy",
    "total pancreatectomy",
    "hepaticojejunostomy",
    "cholecystectomy",
    "radiofrequency ablation",
    "microwave ablation",
    "portal vein embolisation",
    "ALPPS first stage",
    "biliary drainage",
    "ERCP with stent placement",
]
APPROACHES = ["laparoscopically", "through a J-shaped incision", "robotically", "by open approach", "percutaneously"]
HISTOLOGY = [
    "moderately differentiated adenocarcinoma",
    "well differentiated hepatocellular carcinoma",
    "poorly differentiated cholangiocarcinoma",
    "metastatic colorectal adenocarcinoma",
    "pancreatic ductal adenocarcinoma",
    "intraductal papillary mucinous neoplasm with low-grade dysplasia",
    "serous cystadenoma",
    "chronic pancreatitis",
    "steatohepatitis with bridging fibrosis",
    "cirrhosis",
]
MARGINS = ["clear (R0)", "involved (R1)", "close at 0.5 mm", "clear by 12 mm", "microscopically involved"]
COMPLICATIONS = [
    "a grade B pancreatic fistula",
    "post-hepatectomy liver failure",
    "a bile leak managed with drainage",
    "delayed gastric emptying",
    "a wound infection",
    "post-pancreatectomy haemorrhage",
    "pneumonia",
    "no complication",
    "cholangitis",
    "an intra-abdominal collection",
]
FINDINGS = [
    "mild steatosis",
    "cirrhotic liver morphology",
    "splenomegaly",
    "dilated intrahepatic bile ducts",
    "a dilated common bile duct",
    "pancreatic duct dilatation",
    "gallstones",
    "ascites",
    "no lymphadenopathy",
    "portal hypertension with varices",
    "atrophy of the left lobe",
    "hypertrophy of the future liver remnant",
]
DOCUMENT_TYPES = [
    "CT report",
    "MRI report",
    "Operative note",
    "Pathology report",
    "MDT summary",
    "Discharge letter",
    "Clinic letter",
    "Ultrasound report",
]
DIAGNOSES = [
    "colorectal liver metastases",
    "hepatocellular carcinoma",
    "perihilar cholangiocarcinoma",
    "pancreatic head adenocarcinoma",
    "IPMN",
    "gallbladder carcinoma",
    "benign biliary stricture",
    "chronic pancreatitis",
    "neuroendocrine tumour",
    "liver cyst",
]
TAGS = [
    "liver",
    "pancreas",
    "biliary",
    "metastasis",
    "HCC",
    "cholangiocarcinoma",
    "Whipple",
    "laparoscopic",
    "robotic",
    "PVE",
    "ALPPS",
    "teaching",
]
# Rare phrases, each in a small share of documents: the rare-term queries of the benchmark.
RARE = [
    (0.0005, "Features suggest Mirizzi syndrome with a stone impacted in the cystic duct."),
    (0.004, "Appearances are those of a Klatskin tumour, Bismuth-Corlette type IIIa."),
    (0.002, "Findings are in keeping with Caroli disease."),
    (0.01, "A hépatico-jéjunostomie termino-latérale was fashioned."),
]

TEMPLATES = [
    "CT of the abdomen in the {phase} phase shows a {size} mm {lesion} in segment {segment} of the liver.",
    "MRI demonstrates a {lesion} measuring {size} mm in segment {segment}, with {finding}.",
    "The {vessel} is {relation} by the tumour; the {vessel2} is {relation2}.",
    "There is {finding} and {finding2}.",
    "A {procedure} was performed {approach}.",
    "The patient underwent {procedure} after portal vein embolisation of the right liver.",
    "The future liver remnant measured {percent}% of the total liver volume.",
    "Histology shows {histology}; resection margins are {margin}.",
    "{nodes} of {nodes_total} lymph nodes contained tumour.",
    "The postoperative course was complicated by {complication}.",
    "The patient was discharged on day {day} after {complication}.",
    "CA 19-9 was {marker} U/mL and CEA {cea} ng/mL before surgery.",
    "The multidisciplinary team recommended {procedure} followed by adjuvant chemotherapy.",
    "Bilirubin fell from {bili} to {bili2} umol/L after biliary drainage.",
    "The liver was resected along the Cantlie line with intermittent Pringle manoeuvre.",
    "Follow-up imaging at {months} months shows no recurrence in segment {segment}.",
    "Recurrence was detected in segment {segment} at {months} months.",
]


WEIGHTED = {
    "lesion": LESIONS,
    "vessel": VESSELS,
    "procedure": PROCEDURES,
    "histology": HISTOLOGY,
    "complication": COMPLICATIONS,
    "finding": FINDINGS,
    "diagnosis": DIAGNOSES,
}


def _zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


class _Slots(dict):
    """Template slot values drawn only when a template asks for them."""

    def __init__(self, corpus: Corpus, rng: random.Random) -> None:
        super().__init__()
        self.corpus = corpus
        self.rng = rng

    def __missing__(self, key: str) -> object:
        rng = self.rng
        name = key.rstrip("2")
        if name in WEIGHTED:
            return self.corpus._pick(rng, name)
        simple = {
            "phase": lambda: rng.choice(PHASES),
            "size": lambda: rng.randint(4, 120),
            "segment": lambda: rng.choice(SEGMENTS),
            "relation": lambda: rng.choice(RELATIONS),
            "approach": lambda: rng.choice(APPROACHES),
            "percent": lambda: rng.randint(18, 60),
            "margin": lambda: rng.choice(MARGINS),
            "nodes": lambda: rng.randint(0, 6),
            "nodes_total": lambda: rng.randint(6, 30),
            "day": lambda: rng.randint(3, 30),
            "marker": lambda: rng.randint(5, 4000),
            "cea": lambda: round(rng.uniform(0.5, 80), 1),
            "bili": lambda: rng.randint(80, 450),
            "months": lambda: rng.choice([3, 6, 12, 18, 24, 36]),
        }
        return simple[name]()


@dataclass(frozen=True, slots=True)
class SyntheticDocument:
    title: str
    summary: str
    full_text: str


@dataclass(frozen=True, slots=True)
class SyntheticCase:
    title: str
    focus: str
    clinical_summary: str
    tags: list[str]


class Corpus:
    """Deterministic synthetic HPB text: `Corpus(seed).document(n)` is the same for the same n and seed."""

    def __init__(self, seed: int = 20240607) -> None:
        self.seed = seed
        # cumulative weights once, rather than on every rng.choices call
        self._cumulative = {
            name: list(itertools.accumulate(_zipf_weights(len(values)))) for name, values in WEIGHTED.items()
        }

    def _pick(self, rng: random.Random, name: str) -> str:
        return rng.choices(WEIGHTED[name], cum_weights=self._cumulative[name])[0]

    def _sentence(self, rng: random.Random) -> str:
        return rng.choice(TEMPLATES).format_map(_Slots(self, rng))

    def document(self, number: int, *, size: int = 2000) -> SyntheticDocument:
        rng = random.Random(f"{self.seed}-document-{number}")
        sentences = [phrase for share, phrase in RARE if rng.random() < share]
        length = sum(len(s) + 1 for s in sentences)
        while length < size:
            sentence = self._sentence(rng)
            sentences.append(sentence)
            length += len(sentence) + 1
        rng.shuffle(sentences)
        procedure = self._pick(rng, "procedure")
        title = f"{rng.choice(DOCUMENT_TYPES)}: {procedure}"
        summary = self._sentence(rng)
        return SyntheticDocument(title=title, summary=summary, full_text=" ".join(sentences))

    def case(self, number: int) -> SyntheticCase:
        rng = random.Random(f"{self.seed}-case-{number}")
        procedure = self._pick(rng, "procedure")
        diagnosis = self._pick(rng, "diagnosis")
        summary = " ".join(self._sentence(rng) for _ in range(rng.randint(2, 4)))
        tags = sorted(set(rng.sample(TAGS, rng.randint(1, 3))))
        return SyntheticCase(
            title=f"{procedure[:1].upper()}{procedure[1:]} for {diagnosis}",
            focus=procedure,
            clinical_summary=summary,
            tags=tags,
        )

    def documents(self, count: int) -> Iterator[SyntheticDocument]:
        for number in range(count):
            yield self.document(number)
