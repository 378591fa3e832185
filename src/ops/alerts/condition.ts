import { maskSecrets } from '../../db/url.ts';
import type { HealthCheck, HealthDocument } from '../health/types.ts';
import type { AlertCondition, AlertRule, ComparisonOp } from './rules.ts';

/** What a rule saw in one health document. */
export interface Observation {
  holds: boolean;
  /** The entry that made the condition hold, else the first entry considered. */
  entry: HealthCheck;
}

/**
 * Judge `rule` on `doc`. `undefined` when the document has no entry for the rule's check (or none
 * with the rule's unit): the engine then leaves the alert as it was.
 *
 * @example
 * observe(rule, { status: 'fail', checks: { 'postgresql:reachable': [{ observedValue: false, status: 'fail', time }] } });
 * // { holds: true, entry: { observedValue: false, ... } }
 */
export function observe(rule: AlertRule, doc: HealthDocument): Observation | undefined {
  const entries = (doc.checks[rule.check] ?? []).filter((entry) => rule.unit === undefined || entry.observedUnit === rule.unit);
  const first = entries[0];
  if (first === undefined) return undefined;
  const hit = entries.find((entry) => conditionHolds(rule.when, entry));
  return hit === undefined ? { holds: false, entry: first } : { holds: true, entry: hit };
}

/** Whether one check entry meets the condition. */
export function conditionHolds(when: AlertCondition, entry: HealthCheck): boolean {
  if (when === 'fail') return entry.status === 'fail';
  if (when === 'warn-or-fail') return entry.status === 'warn' || entry.status === 'fail';
  return compare(entry.observedValue, when.op, when.value);
}

function compare(observed: HealthCheck['observedValue'], op: ComparisonOp, value: number | boolean): boolean {
  if (typeof observed !== typeof value) return false;
  if (typeof observed === 'number' && Number.isNaN(observed)) return false;
  switch (op) {
    case '==':
      return observed === value;
    case '!=':
      return observed !== value;
    default: {
      if (typeof observed !== 'number' || typeof value !== 'number') return false;
      if (op === '>') return observed > value;
      if (op === '>=') return observed >= value;
      if (op === '<') return observed < value;
      return observed <= value;
    }
  }
}

/** The rule's summary with `{value}`, `{unit}`, `{check}`, `{component}`, `{output}` filled in; passwords in URLs masked. */
export function renderSummary(rule: AlertRule, entry: HealthCheck): string {
  const output = entry.output ?? '';
  const text =
    rule.summary === undefined
      ? `${rule.description}${output ? `: ${output}` : ''}`
      : rule.summary.replace(/\{(value|unit|check|component|output)\}/g, (_match, field: string) => {
          if (field === 'value') return String(entry.observedValue);
          if (field === 'unit') return entry.observedUnit ?? '';
          if (field === 'check') return rule.check;
          if (field === 'component') return entry.componentId ?? '';
          return output;
        });
  // A template whose {output} was empty leaves a dangling ": ".
  return maskSecrets(text.replace(/:\s*$/, ''));
}
