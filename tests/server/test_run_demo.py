"""programs/server/run_demo.sh installs only what building and running the server needs, and says
what it does. apt-get, dpkg-query and cmake are replaced by recorders on PATH (nothing is
installed or built here: the server build is tested elsewhere); the script's flow is real."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

STUBS = {
    # nothing installed: every package is "missing"
    "dpkg-query": "#!/bin/sh\nexit 1\n",
    "apt-get": '#!/bin/sh\necho "apt-get $*" >> "$RECORD"\n',
    "sudo": '#!/bin/sh\nexec "$@"\n',
    # configure records; --build leaves a stand-in server that prints its arguments
    "cmake": """#!/bin/sh
echo "cmake $*" >> "$RECORD"
if [ "$1" = --build ]; then
    mkdir -p "$2/programs/server"
    printf '#!/bin/sh\\necho "server $*"\\n' > "$2/programs/server/mlinfer-server"
    chmod +x "$2/programs/server/mlinfer-server"
fi
""",
}
TEST_ONLY = {"haproxy", "wrk", "prometheus", "default-jre-headless", "libcmocka-dev", "python3-venv", "python3-pip"}
BUILD = {"cmake", "gcc", "make", "libc6-dev", "pkg-config", "libopenblas-dev", "zlib1g-dev", "libturbojpeg0-dev",
         "libisal-dev", "libicu-dev", "libmicrohttpd-dev", "libcjson-dev"}


def test_run_demo_installs_only_the_build_packages_and_says_so(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in STUBS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "record"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLI_")}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", RECORD=str(record), MLI_DEMO_BUILD_DIR=str(tmp_path / "b"))
    r = subprocess.run(["bash", str(REPO / "programs" / "server" / "run_demo.sh"), "--port", "9"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    calls = record.read_text().splitlines()
    (install,) = [c for c in calls if c.startswith("apt-get install")]
    packages = {w for w in install.split()[2:] if not w.startswith("-")}
    assert packages == BUILD, packages
    assert not packages & TEST_ONLY
    assert [c.split()[1] for c in calls if c.startswith("cmake")] == ["-S", "--build"]
    assert r.stdout.splitlines()[-1] == "server --port 9"  # the server, exec'd with the arguments
    steps = [line for line in r.stdout.splitlines() if line.startswith("==>")]
    assert len(steps) >= 4 and any("apt-get install" in s for s in steps), r.stdout
    assert not (tmp_path / "venv").exists() and "pip install" not in r.stdout
