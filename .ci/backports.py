"""Print an APT deb822 stanza for this machine's <codename>-backports, from its own Debian source.

The URIs and keyring come from the source that already serves <codename> on this machine (so
no host name is written into the repository); the codename comes from /etc/os-release. Prints
nothing when no such source is configured.
"""

import glob
import re
import sys


def codename() -> str:
    with open("/etc/os-release", encoding="utf-8") as fh:
        fields = dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)
    return fields.get("VERSION_CODENAME", "").strip('"')


def stanzas():
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, encoding="utf-8") as fh:
            for block in re.split(r"\n\s*\n", fh.read()):
                fields = {}
                for line in block.splitlines():
                    if line.strip() and not line.lstrip().startswith("#") and ":" in line:
                        name, value = line.split(":", 1)
                        fields[name.strip().lower()] = value.strip()
                if fields:
                    yield fields
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] == "deb":
                yield {
                    "types": "deb",
                    "uris": parts[1],
                    "suites": parts[2],
                    "components": " ".join(parts[3:]) or "main",
                }


def main() -> int:
    name = codename()
    if not name:
        return 0
    for fields in stanzas():
        if fields.get("enabled", "yes").lower() == "no" or name not in fields.get("suites", "").split():
            continue
        lines = ["Types: deb", f"URIs: {fields['uris']}", f"Suites: {name}-backports", "Components: main"]
        if "signed-by" in fields:
            lines.append(f"Signed-By: {fields['signed-by']}")
        print("\n".join(lines))
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
