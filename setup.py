"""Packaging for deployer.

``contrib/`` lives at the top level of the repository (as the design asks) but is
installed as ``deployer.contrib`` through ``package_dir``.
"""
import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "deployer" / "__init__.py").read_text()).group(1)


def _packages(root: str, prefix: str) -> list[str]:
    base = HERE / root
    found = []
    for init in sorted(base.rglob("__init__.py")):
        rel = init.parent.relative_to(base)
        parts = [p for p in rel.parts]
        found.append(".".join([prefix, *parts]) if parts else prefix)
    return found


setup(
    name="deployer",
    version=VERSION,
    description="Deploy and operate software on fleets of POSIX hosts, from a tree of Python nodes.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=_packages("deployer", "deployer") + _packages("contrib", "deployer.contrib"),
    package_dir={"deployer": "deployer", "deployer.contrib": "contrib"},
    install_requires=[
        "paramiko>=3.4",
        "pexpect>=4.8",
        "twisted>=23.8",
        "docopt-ng>=0.9",
        "termcolor>=2.3",
        "prompt_toolkit>=3.0.40",
        "psycopg[binary]>=3.1",
    ],
    extras_require={
        # pytest 9.1+ breaks schemathesis's pytest plugin (4.32): keep to what CI proved.
        "test": ["pytest>=8,<9.1", "pytest-timeout>=2.2", "hypothesis>=6", "schemathesis>=4.0,<5",
                 "openapi-spec-validator>=0.7"],
        "bench": ["fabric>=3.2"],
    },
    entry_points={"console_scripts": ["deployer = deployer.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Operating System :: POSIX",
        "Topic :: System :: Systems Administration",
    ],
)
