#!/usr/bin/env python3
"""Writes the callback golden files from the callback documents.

    python3 internal/timfake/testdata/make_goldens.py

It reads only files in the repository: the seed documents in seeds/ beside
this script (Tencent's callback pages, committed as fixtures), and writes
callbacks/ beside it. For each seed document, takes the request packet sample (the first JSON
object that has "CallbackCommand" but no "ActionStatus"), strips the //
comments, adds "EventTime" where the sample lacks it (the reference's group
callback table lists it for these commands; the doc samples send it as a
string of milliseconds), and writes callbacks/<CallbackCommand>.json.

The four callbacks with no sample among the seeds are written from the
values below, taken from Tencent's IM documentation: AfterNewMemberJoin from
the example request of the callback overview, the other three from the
field lists of the group callback table. Their values are chosen to match the scenarios in
callbacks_test.go.
"""
import json
import os
import sys

EVENT_TIME = "1670574414123"


def strip_comments(text):
    out = []
    for line in text.splitlines():
        in_str, esc, cut = False, False, None
        for i, c in enumerate(line):
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = not in_str
            elif not in_str and line.startswith("//", i):
                cut = i
                break
        out.append(line if cut is None else line[:cut])
    return "\n".join(out)


def objects(text):
    """Yields every top-level {...} block of text."""
    depth, start, in_str, esc = 0, None, False, False
    for i, c in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
            continue
        if c == '"' and depth > 0:
            in_str = True
        elif c == "{":
            if depth == 0:
                start = i
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                yield text[start:i + 1]


def seed_sample(path):
    text = strip_comments(open(path, encoding="utf-8").read())
    for block in objects(text):
        try:
            doc = json.loads(block)
        except ValueError:
            continue
        if isinstance(doc, dict) and "CallbackCommand" in doc and "ActionStatus" not in doc:
            return doc
    raise SystemExit("no request sample in " + path)


FROM_REFERENCE = [
    # The callback overview's example request, plus EventTime.
    {"CallbackCommand": "Group.CallbackAfterNewMemberJoin", "GroupId": "@TGS#2J4SZEAEL", "Type": "Public",
     "JoinType": "Apply", "Operator_Account": "leckie",
     "NewMemberList": [{"Member_Account": "jared"}, {"Member_Account": "tommy"}], "EventTime": EVENT_TIME},
    # Group callback table: GroupId, Type, ExitType, Operator_Account, ExitMemberList, EventTime.
    {"CallbackCommand": "Group.CallbackAfterMemberExit", "GroupId": "@TGS#2J4SZEAEL", "Type": "Public",
     "ExitType": "Quit", "Operator_Account": "jared",
     "ExitMemberList": [{"Member_Account": "jared"}], "EventTime": EVENT_TIME},
    # Group callback table: GroupId, Type, Operator_Account, OldOwner_Account, NewOwner_Account, EventTime.
    {"CallbackCommand": "Group.CallbackAfterChangeGroupOwner", "GroupId": "@TGS#2J4SZEAEL", "Type": "Public",
     "Operator_Account": "leckie", "OldOwner_Account": "leckie", "NewOwner_Account": "bob",
     "EventTime": EVENT_TIME},
    # Group callback table: GroupId, Type, Owner_Account, Name, MemberList, EventTime.
    {"CallbackCommand": "Group.CallbackAfterGroupDestroyed", "GroupId": "@TGS#2J4SZEAEL", "Type": "Public",
     "Owner_Account": "leckie", "Name": "MyFirstGroup",
     "MemberList": [{"Member_Account": "leckie"}, {"Member_Account": "bob"}, {"Member_Account": "peter"}],
     "EventTime": EVENT_TIME},
]


def write(doc, outdir):
    path = os.path.join(outdir, doc["CallbackCommand"] + ".json")
    with open(path, "w", encoding="utf-8") as f:
        # Key order kept as in the document.
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote", path)


def main():
    if len(sys.argv) != 1:
        raise SystemExit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    seeddir = os.path.join(here, "seeds")
    outdir = os.path.join(here, "callbacks")
    os.makedirs(outdir, exist_ok=True)
    seeds = sorted(f for f in os.listdir(seeddir) if f.endswith(".txt"))
    for name in seeds:
        doc = seed_sample(os.path.join(seeddir, name))
        if doc["CallbackCommand"] == "Group.CallbackAfterSendMsg":
            # The sample's MsgTime is 1490686222; its EventTime is the same
            # instant plus 123 ms, the fake's clock in that scenario.
            doc.setdefault("EventTime", "1490686222123")
        doc.setdefault("EventTime", EVENT_TIME)
        write(doc, outdir)
    for doc in FROM_REFERENCE:
        write(doc, outdir)


if __name__ == "__main__":
    main()
