"""The data contract check made before anything runs, on exactly the spans the configured
pipeline would read: bad data fails in seconds instead of inside a Beam job."""
from typing import Dict, List

from recfusion.config import Config
from recfusion.data import contract


def required_spans(config: Config) -> List[int]:
  """The spans data.split.spans names (they must all exist); none in fractions mode, where
  the newest data.window_spans spans are read."""
  if config.data.split.mode != 'spans':
    return []
  return sorted({span for spans in config.data.split.spans.values() for span in spans})


def check(data_dir: str, config: Config) -> Dict[str, int]:
  """Counts of what the pipeline would read; DataContractError on the first problem (a
  ConfigError when the pseudonymization key is missing: before TFX, not in its first step)."""
  from recfusion.data import pseudonyms
  # Loads the key (a missing one fails here) and keeps raw ids out of the messages too.
  pseudonymize = pseudonyms.pseudonymizer(config.data.pseudonymize_user_ids)
  return contract.check_data_dir(data_dir, config.data.window_spans, required_spans(config),
                                 config.data.on_unknown_item, config.data.earliest_timestamp,
                                 pseudonymize)
