import { readFileSync } from 'node:fs';
import { Engine, type RuleProperties } from 'json-rules-engine';

export interface RuleFacts {
  customerId: string;
  roles: string[];
  orderTotal: number;
  itemCount: number;
  productIds: string[];
}

export interface RuleOutcome {
  rejected?: { rule: string; message: string };
  discountPercent: number;
  addItems: string[];
  appliedRules: string[];
}

export interface RulesEngine {
  evaluate(facts: RuleFacts): Promise<RuleOutcome>;
}

/** Loads RULES_FILE (a JSON array of json-rules-engine rules); no file, no rules. */
export function loadRules(file: string | undefined): RulesEngine {
  const rules = file ? (JSON.parse(readFileSync(file, 'utf8')) as RuleProperties[]) : [];
  if (!Array.isArray(rules)) throw new Error(`RULES_FILE ${file}: expected a JSON array of rules`);
  const engine = new Engine(rules, { allowUndefinedFacts: true });
  return {
    async evaluate(facts) {
      const outcome: RuleOutcome = { discountPercent: 0, addItems: [], appliedRules: [] };
      if (rules.length === 0) return outcome;
      const { results } = await engine.run({ ...facts });
      for (const result of results) {
        const name = result.name || result.event?.type || 'unnamed rule';
        const params = (result.event?.params ?? {}) as Record<string, unknown>;
        switch (result.event?.type) {
          case 'reject':
            outcome.rejected ??= { rule: name, message: String(params.message ?? `rejected by ${name}`) };
            break;
          case 'discount':
            // Discounts from several rules add up, capped at 100%.
            outcome.discountPercent = Math.min(100, outcome.discountPercent + Number(params.percent ?? 0));
            break;
          case 'addItem':
            if (typeof params.productId === 'string') outcome.addItems.push(params.productId);
            break;
          default:
            continue;
        }
        outcome.appliedRules.push(name);
      }
      return outcome;
    },
  };
}
