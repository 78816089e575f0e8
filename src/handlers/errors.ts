import { AppError, type AppErrorOptions } from '../errors.ts';

/** Bad input data: retrying cannot help, the workflow fails at once (and an upload is refused with a 400). */
export class DataError extends AppError {
  constructor(code: string, message: string, options: Omit<AppErrorOptions, 'retryable' | 'status'> = {}) {
    super(code, message, { hint: 'Fix the input and retry the workflow.', ...options, status: 400, retryable: false });
  }
}
