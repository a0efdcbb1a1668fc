// SIGHUP: reread the fleet key file (--key-file) through reloadKey(), and say
// so in one line. A key file that went bad keeps the old key; the process
// runs on and its exit code does not change. Without --key-file there is
// nothing to reread, which is said too (rather than SIGHUP's default: exit).
// SIGHUP is caught from the start: one that comes while the responder opens
// is carried out as soon as it is open.
import { jsonLine } from './view.js';

export interface Reloadable {
  reloadKey(): void;
}

export class KeyReloader {
  private target: Reloadable | undefined;
  private pending = false;
  private readonly onHangup = (): void => this.hangup();

  constructor(private readonly keyFile: string | undefined, private readonly json: boolean) {
    process.on('SIGHUP', this.onHangup);
  }

  /** The responder (or anything with reloadKey()) SIGHUP reloads from now on. */
  attach(target: Reloadable): void {
    this.target = target;
    if (this.pending) {
      this.pending = false;
      this.hangup();
    }
  }

  /** Stops handling SIGHUP. */
  stop(): void {
    process.off('SIGHUP', this.onHangup);
  }

  private hangup(): void {
    if (this.keyFile === undefined) {
      this.say(false, 'no --key-file, nothing to reload', { error: 'no --key-file: nothing to reload' });
      return;
    }
    if (this.target === undefined) {
      this.pending = true;
      return;
    }
    try {
      this.target.reloadKey();
      this.say(true, `reloaded the key file ${this.keyFile}`, { keyFile: this.keyFile });
    } catch (error) {
      const message = `${(error as Error).message}; kept the old key`;
      this.say(false, message, { keyFile: this.keyFile, error: message });
    }
  }

  private say(ok: boolean, text: string, fields: Record<string, unknown>): void {
    if (this.json) process.stdout.write(`${jsonLine('reload', { ok, ...fields })}\n`);
    else process.stderr.write(`syncache: SIGHUP: ${text}\n`);
  }
}
