"""recfusion: fused deep ranking models for shop search and recommendation, as a TFX pipeline.

The repository keeps the design card's top-level layout (pipeline/, components/, schemas/), and
each of those folders is installed as a subpackage of `recfusion` so that every import is
`recfusion.<...>` and no generic top-level name (`pipeline`, `components`) is claimed.
"""
from setuptools import find_packages, setup

ROOTS = {
    'recfusion': 'recfusion',
    'recfusion.pipeline': 'pipeline',
    'recfusion.components': 'components',
    'recfusion.schemas': 'schemas',
}


def _packages():
  packages = []
  for package, folder in ROOTS.items():
    packages.append(package)
    packages += [f'{package}.{sub}' for sub in find_packages(folder, exclude=['*tests*'])]
  return packages


setup(
    name='recfusion',
    version='0.1.0',
    description='TFX pipeline that trains, fuses, evaluates and pushes shop ranking models.',
    python_requires='>=3.10,<3.11',
    packages=_packages(),
    package_dir=ROOTS,
    package_data={
        'recfusion': ['defaults.yaml'],
        'recfusion.schemas': ['*.pbtxt', '*.md'],
        'recfusion.report': ['templates/*.j2'],
    },
    # The exact versions live in requirements.lock (installed by `make install`); these are the
    # direct needs, so `pip install .` into an image that already has the TFX stack works too.
    install_requires=[
        'tfx>=1.16,<1.17',
        'tensorflow>=2.16,<2.17',
        'tf-keras>=2.16,<2.17',
        'tensorflow-transform>=1.16,<1.17',
        'tensorflow-model-analysis>=0.47,<0.48',
        'tensorflow-data-validation>=1.16,<1.17',
        'apache-beam[gcp]>=2.59,<2.60',
        'pyarrow>=10,<11',
        'pandas>=1.5,<2',
        'click>=8.1',
        'rich>=13',
        'pyyaml>=6',
    ],
    entry_points={'console_scripts': ['recfusion=recfusion.cli:main']},
)
