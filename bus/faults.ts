/**
 * What a failure means for the message in hand. A failure that is about the message (its data, a
 * run Temporal will never accept) is final for that message: it is dead-lettered or parked with
 * the reason, and the messages after it go on. Only a failure of the infrastructure (Postgres or
 * Temporal unreachable, overloaded, restarting) is retried, because waiting can fix it.
 */
import { isGrpcServiceError } from '@temporalio/client';
import { ValueError } from '@temporalio/common';
import { ZodError } from 'zod';

/**
 * Postgres SQLSTATE classes that describe the statement's data, not the server's health:
 * 21 cardinality, 22 data exception (NUL in text, timestamp out of range, bad encoding, JSON
 * escapes), 23 integrity constraint, 2F/38/39 routine errors, 42 the statement itself, 44 check
 * option, 54 program limit (a value too large for an index), 0A feature not supported.
 */
const DATA_SQLSTATE_CLASSES = new Set(['21', '22', '23', '2F', '38', '39', '42', '44', '54', '0A']);

/** True when Postgres refused the statement because of what it was asked to store. */
export function isPostgresDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && DATA_SQLSTATE_CLASSES.has(code.slice(0, 2));
}

/** How a failed start of a run is handled. */
export type StartFault =
  /** About this message: park the row now, with the reason. */
  | 'permanent'
  /** Maybe about this message, maybe passing: back off this row, park it after the attempt cap. */
  | 'retry-row'
  /** Temporal or Postgres is unreachable: nothing can start; back off everything, count nothing against the row. */
  | 'unreachable';

// gRPC status codes (google.rpc.Code), as Temporal's frontend uses them.
const GRPC = { CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16 } as const;

/** The first gRPC error in an error's cause chain: its status code and the server's own words. */
function grpcError(err: unknown): { readonly code: number; readonly details: string } | null {
  for (let e = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e)) return { code: e.code, details: e.details };
  }
  return null;
}

const grpcCode = (err: unknown): number | null => grpcError(err)?.code ?? null;

export function classifyStartFailure(err: unknown): StartFault {
  const code = grpcCode(err);
  if (code !== null) {
    switch (code) {
      // The request itself is wrong (an ID too long, a bad search attribute, a payload too big).
      case GRPC.INVALID_ARGUMENT:
      case GRPC.OUT_OF_RANGE:
      case GRPC.FAILED_PRECONDITION:
        return 'permanent';
      // Busy or hiccuping: this row may go through later.
      case GRPC.RESOURCE_EXHAUSTED:
      case GRPC.ABORTED:
      case GRPC.INTERNAL:
      case GRPC.UNKNOWN:
      case GRPC.DATA_LOSS:
        return 'retry-row';
      // The server, the namespace or our credentials: nothing would start now, whatever the row.
      default:
        return 'unreachable';
    }
  }
  if (isPostgresDataError(err)) return 'permanent';
  // Our code refusing the message's content (a handler, a converter): retrying repeats it.
  if (err instanceof ZodError || err instanceof ValueError || err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return 'permanent';
  // Anything else (a socket error, a Postgres that went away) is infrastructure until shown otherwise.
  return 'unreachable';
}

/** A failure as one line for an operator: the server's words, and the gRPC status or SQLSTATE when there is one. */
export function describeFailure(err: unknown): string {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  const grpc = grpcError(err);
  if (grpc) {
    const name = Object.entries(GRPC).find(([, v]) => v === grpc.code)?.[0] ?? String(grpc.code);
    return `${grpc.details && !message.includes(grpc.details) ? `${message}: ${grpc.details}` : message} (gRPC ${name})`;
  }
  const sqlstate = (err as { code?: unknown } | null)?.code;
  return typeof sqlstate === 'string' && /^[0-9A-Z]{5}$/.test(sqlstate) ? `${message} (SQLSTATE ${sqlstate})` : message;
}
