/**
 * An error in how the command was called: exit code 2 and a pointer to
 * --help. `flag` names the flag (without dashes) whose value was wrong, so
 * a value from --config FILE can be said to come from there.
 */
export class UsageError extends Error {
  flag?: string;

  constructor(message: string, flag?: string) {
    super(message);
    if (flag !== undefined) this.flag = flag;
  }
}
