import { Writable } from 'node:stream';
import { DrizzleQueryError } from 'drizzle-orm/errors';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { LOG_OPTIONS, MAX_LOG_STRING } from '../../src/server/logging.ts';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ ...LOG_OPTIONS, level: 'info' }, stream), lines };
}

describe('log lines', () => {
  it('keep a failed query to its driver code and message: no SQL, no parameters, no file contents', () => {
    const { logger, lines } = capture();
    const file = 'name,ip\n' + 'secret-host,10.0.0.1\n'.repeat(50_000);
    const cause = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01', severity: 'FATAL' });
    logger.error({ err: new DrizzleQueryError('insert into "dataset_files" (content) values ($1)', [file], cause) }, 'create failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(1_000);
    expect(lines[0]).not.toMatch(/insert into|secret-host|dataset_files/);
    expect(JSON.parse(lines[0]!).err).toMatchObject({ code: '57P01', message: 'terminating connection due to administrator command' });
  });

  it('caps every string field and error message at 2 KB', () => {
    const { logger, lines } = capture();
    logger.warn({ error: 'x'.repeat(100_000), err: new Error('y'.repeat(100_000)) }, 'step attempt failed');
    expect(lines[0]!.length).toBeLessThan(3 * MAX_LOG_STRING + 2_000);
    const entry = JSON.parse(lines[0]!) as { error: string; err: { message: string } };
    expect(entry.error.length).toBeLessThanOrEqual(MAX_LOG_STRING + 40);
    expect(entry.err.message.length).toBeLessThanOrEqual(MAX_LOG_STRING + 40);
  });
});
