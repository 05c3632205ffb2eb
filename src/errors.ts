/**
 * Domain errors shared by services, activities and the API. Services throw these; the API maps
 * them to HTTP statuses (src/api/errors.ts); activities mark the non-retryable ones.
 */
export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `body.priority` or `query.branchId`. */
  field: string;
  message: string;
}

export abstract class DomainError extends Error {
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input, naming each field. HTTP 400. */
export class ValidationError extends DomainError {
  readonly code = 'validation_error';
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message, { fields: issues });
  }
}

/** Missing, or belonging to another company (never tell the two apart). HTTP 404. */
export class NotFoundError extends DomainError {
  readonly code = 'not_found';
  constructor(resource: string, id?: string) {
    super(id ? `${resource} ${id} not found` : `${resource} not found`);
  }
}

/** A duplicate, or a transition the current state does not allow. HTTP 409. */
export class ConflictError extends DomainError {
  readonly code: string;
  constructor(message: string, code = 'conflict', details?: unknown) {
    super(message, details);
    this.code = code;
  }
}

/** A dependency (Postgres, Temporal, a provider) is down; nothing was written. HTTP 503. */
export class UnavailableError extends DomainError {
  readonly code = 'unavailable';
}

/** The caller may not do this (e.g. an agent completing someone else's callback). HTTP 403. */
export class ForbiddenError extends DomainError {
  readonly code = 'forbidden';
}
