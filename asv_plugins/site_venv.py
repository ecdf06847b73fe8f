"""An asv environment for history: a venv that sees this Python's installed packages
(torch, timm, ... installed once) and into which asv installs only the project, per commit.

asv's "existing" environment cannot check out commits (no commit ranges, no
`asv continuous`), and its "virtualenv" one would download torch for every environment.
This one is `python -m venv --system-site-packages`: the commit's `suite` lands in the
venv's own site-packages, which Python searches before the system's (an editable install
of another checkout is found after them: setuptools appends its finder to sys.meta_path).
Selected in asv.conf.json by "environment_type": "site-venv".
"""
from __future__ import annotations

import subprocess
import sys

from asv import environment, util
from asv.console import log

CURRENT = f"{sys.version_info[0]}.{sys.version_info[1]}"


class SiteVenv(environment.Environment):
    tool_name = "site-venv"

    def __init__(self, conf, python, requirements, tagged_env_vars):
        if not self.matches(python):
            raise environment.EnvironmentUnavailable(f"site-venv reuses this Python ({CURRENT}), not {python}")
        self._executable = sys.executable
        self._python = CURRENT
        self._requirements = {}  # what the venv needs comes from the system's site-packages
        super().__init__(conf, CURRENT, {}, tagged_env_vars)

    @classmethod
    def matches(cls, python):
        return python in ("same", CURRENT)

    @property
    def name(self):
        return environment.get_env_name(self.tool_name, self._python, {}, self._tagged_env_vars)

    def _setup(self):
        log.info(f"Creating a venv over this Python's site-packages for {self.name}")
        util.check_call([self._executable, "-m", "venv", "--system-site-packages", "--without-pip", self._path])

    def check_presence(self):
        # asv checks for a `pip` executable; this venv runs the system's pip as `python -m pip`.
        try:
            self.run_executable("python", ["-c", "import pip"])
        except (subprocess.CalledProcessError, OSError, util.ProcessError):
            return False
        try:
            info = self.load_info_file(self._path)
        except (util.UserError, OSError):
            return False
        return info.get("tool_name") == self.tool_name

    def run(self, args, **kwargs):
        log.debug(f"Running '{' '.join(args)}' in {self.name}")
        return self.run_executable("python", args, **kwargs)
