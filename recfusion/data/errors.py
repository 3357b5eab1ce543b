"""The data contract's error, apart from the checks so that the CLI can catch it without
importing pandas (which every command would then pay for)."""


class DataContractError(ValueError):
  """Input data that breaks the contract. The message is meant for the user, as is.

  Constructed from one message string so that Beam, which re-raises a DoFn's exception as
  `type(exn)(message + step)`, keeps the type.
  """
