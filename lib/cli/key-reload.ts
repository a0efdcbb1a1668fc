// SIGHUP: reread the fleet key file (--key-file) through reloadKey(), and say
// so in one line. A key file that went bad keeps the old key; the process
// runs on and its exit code does not change. Without --key-file there is
// nothing to reread, which is said too (rather than SIGHUP's default: exit).
import { jsonLine } from './view.js';

export interface Reloadable {
  reloadKey(): void;
}

/** Handles SIGHUP until the returned function is called. */
export function reloadKeyOnHangup(target: Reloadable, keyFile: string | undefined, json: boolean): () => void {
  const onHangup = (): void => {
    if (keyFile === undefined) {
      if (json) process.stdout.write(`${jsonLine('reload', { ok: false, error: 'no --key-file: nothing to reload' })}\n`);
      else process.stderr.write('syncache: SIGHUP: no --key-file, nothing to reload\n');
      return;
    }
    try {
      target.reloadKey();
      if (json) process.stdout.write(`${jsonLine('reload', { ok: true, keyFile })}\n`);
      else process.stderr.write(`syncache: SIGHUP: reloaded the key file ${keyFile}\n`);
    } catch (error) {
      const message = (error as Error).message;
      if (json) process.stdout.write(`${jsonLine('reload', { ok: false, keyFile, error: `${message}; kept the old key` })}\n`);
      else process.stderr.write(`syncache: SIGHUP: ${message}; kept the old key\n`);
    }
  };
  process.on('SIGHUP', onHangup);
  return () => { process.off('SIGHUP', onHangup); };
}
