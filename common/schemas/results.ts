/** Bodies of test-result messages from ResultsDB and decisions from Greenwave. */
import { z } from 'zod';

/** `resultsdb.result.new`: one test result stored. */
export const ResultsdbResultSchema = z.looseObject({
  id: z.number().int(),
  outcome: z.enum(['PASSED', 'INFO', 'FAILED', 'NEEDS_INSPECTION', 'ERROR', 'QUEUED', 'RUNNING']),
  testcase: z.looseObject({ name: z.string().min(1) }),
  data: z.record(z.string(), z.array(z.string())),
  ref_url: z.string().nullable().optional(),
  submit_time: z.string().optional(),
});

/** `greenwave.decision.update`: Greenwave's verdict on a subject changed. */
export const GreenwaveDecisionSchema = z.looseObject({
  decision_context: z.string().min(1).max(255),
  product_version: z.string().min(1).max(255),
  subject_type: z.string().min(1).max(100),
  subject_identifier: z.string().min(1).max(255),
  policies_satisfied: z.boolean(),
  summary: z.string(),
  unsatisfied_requirements: z.array(z.looseObject({ type: z.string(), testcase: z.string().optional() })).default([]),
});
export type GreenwaveDecision = z.infer<typeof GreenwaveDecisionSchema>;
