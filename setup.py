"""recfusion: fused deep ranking models for shop search and recommendation, as a TFX pipeline.

The repository keeps the design card's top-level layout (pipeline/, components/, schemas/), and
each of those folders is installed as a subpackage of `recfusion` so that every import is
`recfusion.<...>` and no generic top-level name (`pipeline`, `components`) is claimed.
"""
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOTS = {
    'recfusion': 'recfusion',
    'recfusion.pipeline': 'pipeline',
    'recfusion.components': 'components',
    'recfusion.schemas': 'schemas',
}


def _packages():
  """Each root and every package below its folder, however deep (recfusion.models.rankers, ...)."""
  packages = []
  for package, folder in ROOTS.items():
    packages.append(package)
    packages += [f'{package}.{sub}' for sub in find_packages(folder, exclude=['*tests*'])]
  return packages


class BuildPyWithoutTests(build_py):
  """Leaves the tests that sit beside the code (`*_test.py`) out of wheels and regular
  installs; the editable install still imports them from the checkout."""

  def find_package_modules(self, package, package_dir):
    return [(pkg, module, path)
            for pkg, module, path in super().find_package_modules(package, package_dir)
            if not module.endswith('_test')]


setup(
    name='recfusion',
    version='0.1.0',
    description='TFX pipeline that trains, fuses, evaluates and pushes shop ranking models.',
    python_requires='>=3.10,<3.11',
    packages=_packages(),
    package_dir=ROOTS,
    cmdclass={'build_py': BuildPyWithoutTests},
    package_data={
        'recfusion': ['defaults.yaml'],
        'recfusion.schemas': ['*.pbtxt', '*.md'],
        'recfusion.report': ['templates/*.j2'],
    },
    # The exact versions live in requirements.lock (the image installs it; requirements-dev.lock,
    # which `make install` uses, adds dev tools at the same versions); these are the direct
    # runtime needs, so `pip install .` into an image that already has the TFX stack works too.
    install_requires=[
        'tfx[kfp]>=1.16,<1.17',
        'tensorflow>=2.16,<2.17',
        'tf-keras>=2.16,<2.17',
        'tensorflow-transform>=1.16,<1.17',
        'tensorflow-model-analysis>=0.47,<0.48',
        'tensorflow-data-validation>=1.16,<1.17',
        'tensorflow-decision-forests>=1.9,<1.10',
        'apache-beam[gcp]>=2.59,<2.60',
        'pyarrow>=10,<11',
        'pandas>=1.5,<2',
        'click>=8.1',
        'rich>=13',
        'pyyaml>=6',
        'jinja2>=3.1',
        'filelock>=3.12',
        'pydantic>=2.5,<3',
        'croniter>=2',
        'scikit-learn>=1.3',
        'matplotlib>=3.7',
        'kfp>=2.5,<2.6',
    ],
    entry_points={'console_scripts': ['recfusion=recfusion.cli:main']},
)
