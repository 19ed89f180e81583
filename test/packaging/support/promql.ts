// The metric names a PromQL expression refers to. A small lexer, not a full
// parser: it skips strings, numbers and durations, label matchers ({...}),
// range and subquery brackets ([...]), the label lists of by/without/on/
// ignoring/group_left/group_right, keywords, and function and aggregation
// names (an identifier followed by "(" or by "by"/"without"). What remains
// are metric names. Grafana variables ($x, ${x}, [[x]]) are skipped too.

type Token =
  { kind: 'ident'; text: string } | { kind: 'punct'; text: string } | { kind: 'other'; text: string };

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', 'start', 'end']);
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
]);

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = expr.length;
  // Bounded: every iteration consumes at least one character.
  while (i < n) {
    const c = expr[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      // A comment runs to the end of the line.
      while (i < n && expr[i] !== '\n') i++;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < n && expr[j] !== c) j += expr[j] === '\\' && c !== '`' ? 2 : 1;
      out.push({ kind: 'other', text: expr.slice(i, j + 1) });
      i = j + 1;
    } else if (c === '$') {
      // Grafana variable: $name or ${name...}
      let j = i + 1;
      if (expr[j] === '{') {
        while (j < n && expr[j] !== '}') j++;
        j++;
      } else {
        while (j < n && /[A-Za-z0-9_]/.test(expr[j]!)) j++;
      }
      out.push({ kind: 'other', text: expr.slice(i, j) });
      i = j;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(expr[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_.]/.test(expr[j]!)) j++;
      out.push({ kind: 'other', text: expr.slice(i, j) });
      i = j;
    } else if (/[A-Za-z_:]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_:]/.test(expr[j]!)) j++;
      out.push({ kind: 'ident', text: expr.slice(i, j) });
      i = j;
    } else {
      out.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return out;
}

/** Index just past the bracket that closes the one at `open`. */
function skipBalanced(tokens: Token[], open: number, left: string, right: string): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'punct') continue;
    if (t.text === left) depth++;
    else if (t.text === right && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced "${left}" in PromQL`);
}

/** The metric names referred to by one PromQL expression. */
export function metricNames(expr: string): Set<string> {
  const tokens = tokenize(expr);
  const names = new Set<string>();
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '{') {
      i = skipBalanced(tokens, i, '{', '}');
      continue;
    }
    if (t.kind === 'punct' && t.text === '[') {
      // A range, a subquery or a Grafana [[variable]].
      i = skipBalanced(tokens, i, '[', ']');
      continue;
    }
    if (t.kind === 'ident') {
      const word = t.text;
      if (GROUPING.has(word.toLowerCase())) {
        i = next?.kind === 'punct' && next.text === '(' ? skipBalanced(tokens, i + 1, '(', ')') : i + 1;
        continue;
      }
      const isCall = next?.kind === 'punct' && next.text === '(';
      const isGroupedAggregation =
        AGGREGATIONS.has(word) && next?.kind === 'ident' && GROUPING.has(next.text.toLowerCase());
      if (!isCall && !isGroupedAggregation && !KEYWORDS.has(word.toLowerCase())) names.add(word);
    }
    i++;
  }
  return names;
}

/**
 * The metric names of a Grafana templating query: PromQL, or one of the
 * Prometheus data source's functions (label_values(metric, label),
 * label_values(label), metrics(regex), query_result(expr)).
 */
export function grafanaQueryMetricNames(query: string): Set<string> {
  const q = query.trim();
  const labelValues = /^label_values\((.*)\)$/s.exec(q);
  if (labelValues) {
    // label_values(selector, label) names the selector's metric; label_values(label) none.
    const inner = labelValues[1] ?? '';
    const comma = inner.lastIndexOf(',');
    return comma < 0 ? new Set() : metricNames(inner.slice(0, comma));
  }
  const queryResult = /^query_result\((.*)\)$/s.exec(q);
  if (queryResult) return metricNames(queryResult[1] ?? '');
  if (/^metrics\(/.test(q)) return new Set();
  return metricNames(q);
}
