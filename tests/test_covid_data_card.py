"""The data card's tables are the data's: class and license counts recomputed from metadata.csv."""
from pathlib import Path

import pandas as pd

from pruninglib.data.covid import FOLDER, file_table, select_subset, showable_license

CARD = Path(__file__).resolve().parents[1] / "book" / "covid_data_card.md"


def table_rows(text: str, header: str) -> list[list[str]]:
    lines = text[text.index(header):].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_card_counts_match_the_metadata(covid_root):
    rows = select_subset(pd.read_csv(covid_root / FOLDER / "metadata.csv", dtype={"patientid": str}))
    t = file_table(rows)
    card = CARD.read_text()
    findings = {r[0]: (int(r[1]), r[2]) for r in table_rows(card, "| finding | images | class |")
                if not r[0].startswith("**")}
    assert findings == {f: (n, "positive" if "COVID-19" in f else "negative")
                        for f, n in t["finding"].value_counts().items()}
    licenses = {r[0]: r[1:] for r in table_rows(card, "| license | COVID-19 | other | files |")}
    t["lic"] = t["license"].replace("", "(blank: none given)")
    counts = t.groupby(["lic", "label"]).size().unstack(fill_value=0)
    expected = {lic: [str(counts.loc[lic, 1]), str(counts.loc[lic, 0]), str(counts.loc[lic].sum()),
                      "allowed" if showable_license(lic) else "no"] for lic in counts.index}
    assert licenses == expected
    assert len(rows) == 193 and len(t) == 191 and int(t["label"].sum()) == 141
