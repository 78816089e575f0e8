import { describe, expect, it } from 'vitest';
import { ArtifactMissingError, WorkflowNotFoundError } from '../src/engine/errors.ts';
import { UploadTooLargeError } from '../src/engine/uploads.ts';
import { AppError, isAppError } from '../src/errors.ts';
import { DataError } from '../src/handlers/errors.ts';
import { StepTimeoutError, TransientError } from '../src/machine/errors.ts';
import { ApiError } from '../src/server/errors.ts';

describe('the one error base', () => {
  it('carries a code, a status, a hint, details and whether a retry helps', () => {
    const error = new AppError('SOMETHING', 'It broke.', { status: 409, hint: 'Do this.', details: { id: 'w1' } });
    expect(error).toMatchObject({ code: 'SOMETHING', status: 409, hint: 'Do this.', retryable: false, name: 'AppError' });
    expect(error.body()).toEqual({ code: 'SOMETHING', message: 'It broke.', hint: 'Do this.', id: 'w1' });
    expect(new AppError('X', 'plain').body()).toEqual({ code: 'X', message: 'plain' });
    expect(new AppError('X', 'plain').status).toBe(400);
  });

  it('is the base of every layer\'s errors', () => {
    const errors = [
      new DataError('BAD', 'bad data'),
      new TransientError('busy'),
      new StepTimeoutError('data_validation', 10),
      new WorkflowNotFoundError('w'),
      new ArtifactMissingError('w', 'validation'),
      new UploadTooLargeError(10, 20),
      new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'no'),
    ];
    for (const error of errors) expect(isAppError(error), error.name).toBe(true);
    expect(errors.map((e) => [e.status, e.retryable])).toEqual([
      [400, false],
      [503, true],
      [503, true],
      [404, false],
      [409, false],
      [413, false],
      [415, false],
    ]);
    expect(new DataError('BAD', 'bad data').hint).toBe('Fix the input and retry the workflow.');
    expect(isAppError(new Error('x'))).toBe(false);
  });
});
