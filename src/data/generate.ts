// A synthetic "Comprehensive Banking Database": the original's 40 columns, names, value sets and M/D/YYYY dates,
// plus HighAmount = Transaction Amount ≥ its 95th percentile. The amount depends on observable customer and
// account fields plus noise, so an honest model finds real but imperfect signal (ROC AUC well below 1), while
// Transaction Amount and Account Balance After Transaction leak the target, as in the original.
//
// Deterministic for a seed. Streams: rows are generated twice from the same seed (first pass: amounts only, for
// the percentile; second pass: written in batches), so memory holds one Float64Array of amounts, not the rows.
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify/sync';

export const BANKING_COLUMNS = [
  'Customer ID',
  'First Name',
  'Last Name',
  'Age',
  'Gender',
  'Address',
  'City',
  'Contact Number',
  'Email',
  'Account Type',
  'Account Balance',
  'Date Of Account Opening',
  'Last Transaction Date',
  'TransactionID',
  'Transaction Date',
  'Transaction Type',
  'Transaction Amount',
  'Account Balance After Transaction',
  'Branch ID',
  'Loan ID',
  'Loan Amount',
  'Loan Type',
  'Interest Rate',
  'Loan Term',
  'Approval/Rejection Date',
  'Loan Status',
  'CardID',
  'Card Type',
  'Credit Limit',
  'Credit Card Balance',
  'Minimum Payment Due',
  'Payment Due Date',
  'Last Credit Card Payment Date',
  'Rewards Points',
  'Feedback ID',
  'Feedback Date',
  'Feedback Type',
  'Resolution Status',
  'Resolution Date',
  'Anomaly',
  'HighAmount',
] as const;

const FIRST_NAMES = [
  'James',
  'Mary',
  'Robert',
  'Patricia',
  'John',
  'Jennifer',
  'Michael',
  'Linda',
  'David',
  'Elizabeth',
  'William',
  'Barbara',
  'Richard',
  'Susan',
  'Joseph',
  'Jessica',
  'Thomas',
  'Sarah',
  'Charles',
  'Karen',
  'Daniel',
  'Nancy',
  'Matthew',
  'Lisa',
  'Anthony',
  'Betty',
  'Mark',
  'Sandra',
  'Steven',
  'Ashley',
  'Paul',
  'Emily',
  'Andrew',
  'Donna',
  'Joshua',
  'Michelle',
  'Kenneth',
  'Carol',
  'Kevin',
  'Amanda',
];
const LAST_NAMES = [
  'Smith',
  'Johnson',
  'Williams',
  'Brown',
  'Jones',
  'Garcia',
  'Miller',
  'Davis',
  'Rodriguez',
  'Martinez',
  'Hernandez',
  'Lopez',
  'Gonzalez',
  'Wilson',
  'Anderson',
  'Thomas',
  'Taylor',
  'Moore',
  'Jackson',
  'Martin',
  'Lee',
  'Perez',
  'Thompson',
  'White',
  'Harris',
  'Sanchez',
  'Clark',
  'Ramirez',
  'Lewis',
  'Robinson',
];
const STREETS = ['Main St', 'Oak Ave', 'Pine Rd', 'Maple Dr', 'Cedar Ln', 'Elm St', 'Lake Blvd', 'Hill Rd', 'Park Ave', 'River Rd'];
const CITIES = [
  'Fort Worth',
  'Louisville',
  'Seattle',
  'Denver',
  'Boston',
  'Austin',
  'Phoenix',
  'Portland',
  'Atlanta',
  'Chicago',
  'Houston',
  'Miami',
  'San Diego',
  'Dallas',
  'Columbus',
];
const GENDERS = ['Female', 'Male', 'Other'] as const;
const ACCOUNT_TYPES = ['Savings', 'Current'] as const;
const TRANSACTION_TYPES = ['Deposit', 'Transfer', 'Withdrawal'] as const;
const LOAN_TYPES = ['Mortgage', 'Auto', 'Personal'] as const;
const LOAN_STATUSES = ['Approved', 'Rejected', 'Closed'] as const;
const CARD_TYPES = ['Visa', 'MasterCard', 'AMEX'] as const;
const FEEDBACK_TYPES = ['Compliment', 'Complaint', 'Suggestion'] as const;
const RESOLUTION_STATUSES = ['Resolved', 'Pending'] as const;

/** Deterministic PRNG (mulberry32): fast, seedable, good enough for synthetic data. */
export class Random {
  private state: number;
  private spare: number | undefined;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(values: readonly T[]): T {
    return values[Math.floor(this.next() * values.length)]!;
  }

  normal(): number {
    if (this.spare !== undefined) {
      const value = this.spare;
      this.spare = undefined;
      return value;
    }
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }
}

const DAY_MS = 86_400_000;
const START_2010 = Date.UTC(2010, 0, 1);
const END_2023 = Date.UTC(2023, 11, 31);

function formatDate(ms: number): string {
  const date = new Date(ms);
  return `${date.getUTCMonth() + 1}/${date.getUTCDate()}/${date.getUTCFullYear()}`;
}

function money(value: number): number {
  return Math.round(value * 100) / 100;
}

type Row = (string | number)[];

/** One customer's row; `highAmount` is filled in by the caller once the percentile is known. */
function generateRow(random: Random, index: number): { row: Row; amount: number } {
  const age = random.int(18, 70);
  const gender = random.pick(GENDERS);
  const accountType = random.pick(ACCOUNT_TYPES);
  const balance = money(Math.exp(8.6 + 0.9 * random.normal()));
  const opened = START_2010 + Math.floor(random.next() * (END_2023 - START_2010 - 400 * DAY_MS));
  const transactionDate = opened + Math.floor(random.next() * 365 * 3) * DAY_MS;
  const transactionType = random.pick(TRANSACTION_TYPES);
  const loanType = random.pick(LOAN_TYPES);
  const loanAmount = money(Math.exp((loanType === 'Mortgage' ? 11.5 : loanType === 'Auto' ? 9.8 : 8.8) + 0.5 * random.normal()));
  const interestRate = money(1 + random.next() * 9);
  const loanTerm = random.pick([12, 24, 36, 48, 60]);
  const loanStatus = random.pick(LOAN_STATUSES);
  const cardType = random.pick(CARD_TYPES);
  const creditLimit = money(Math.exp(8.4 + (cardType === 'AMEX' ? 0.4 : 0) + 0.6 * random.normal()));
  const cardBalance = money(creditLimit * random.next() * 0.9);
  const rewardsPoints = random.int(0, 10_000);

  // The planted signal: log(amount) rises with wealth and credit, with account and transaction type and with age
  // around mid-life; the noise term keeps an honest model well short of perfect.
  const logAmount =
    5.2 +
    0.45 * (Math.log(balance) - 8.6) +
    0.35 * (Math.log(creditLimit) - 8.5) +
    0.15 * (Math.log(loanAmount) - 10) +
    (accountType === 'Current' ? 0.35 : 0) +
    (transactionType === 'Transfer' ? 0.45 : transactionType === 'Deposit' ? 0.25 : 0) +
    (cardType === 'AMEX' ? 0.2 : 0) -
    0.0006 * (age - 45) ** 2 +
    0.55 * random.normal();
  const amount = money(Math.max(1, Math.exp(logAmount)));
  const balanceAfter = money(transactionType === 'Deposit' ? balance + amount : balance - amount);

  const first = random.pick(FIRST_NAMES);
  const last = random.pick(LAST_NAMES);
  const customerId = index + 1;
  const feedbackDate = transactionDate + random.int(1, 60) * DAY_MS;
  const row: Row = [
    customerId,
    first,
    last,
    age,
    gender,
    `${random.int(1, 9999)} ${random.pick(STREETS)}`,
    random.pick(CITIES),
    `1-${random.int(200, 999)}-${random.int(200, 999)}-${String(random.int(0, 9999)).padStart(4, '0')}`,
    `${first.toLowerCase()}.${last.toLowerCase()}${customerId}@example.com`,
    accountType,
    balance,
    formatDate(opened),
    formatDate(transactionDate + random.int(0, 30) * DAY_MS),
    customerId,
    formatDate(transactionDate),
    transactionType,
    amount,
    balanceAfter,
    random.int(1, 100),
    customerId,
    loanAmount,
    loanType,
    interestRate,
    loanTerm,
    formatDate(opened + random.int(1, 300) * DAY_MS),
    loanStatus,
    customerId,
    cardType,
    creditLimit,
    cardBalance,
    money(cardBalance * 0.03),
    formatDate(transactionDate + random.int(5, 30) * DAY_MS),
    formatDate(transactionDate - random.int(1, 60) * DAY_MS),
    rewardsPoints,
    customerId,
    formatDate(feedbackDate),
    random.pick(FEEDBACK_TYPES),
    random.pick(RESOLUTION_STATUSES),
    formatDate(feedbackDate + random.int(1, 30) * DAY_MS),
    random.next() < 0.05 ? -1 : 1,
  ];
  return { row, amount };
}

export interface GenerateOptions {
  rows: number;
  seed: number;
  out: string;
  /** Called every batch with rows written so far. */
  onProgress?: (written: number, total: number) => void;
}

export interface GenerateResult {
  path: string;
  rows: number;
  seed: number;
  positives: number;
  /** The 95th percentile of Transaction Amount: HighAmount is 1 at or above it. */
  threshold: number;
}

const BATCH = 5_000;

/** 95th percentile by the nearest-rank rule (the smallest value with at least 95 % of values at or below it). */
function percentile95(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)]!;
}

export async function generateBankingCsv(options: GenerateOptions): Promise<GenerateResult> {
  const { rows, seed, out } = options;
  if (!Number.isInteger(rows) || rows < 1) throw new Error(`rows must be a whole number ≥ 1 (got ${rows}).`);

  // Pass 1: the amounts, for the percentile that defines the target.
  const amounts = new Float64Array(rows);
  const random = new Random(seed);
  for (let i = 0; i < rows; i++) amounts[i] = generateRow(random, i).amount;
  const threshold = percentile95(amounts);

  // Pass 2: the same rows again (same seed), written in batches; pipeline() handles backpressure and errors.
  let positives = 0;
  async function* csvChunks(): AsyncGenerator<string> {
    yield stringify([BANKING_COLUMNS as unknown as string[]]);
    const again = new Random(seed);
    for (let start = 0; start < rows; start += BATCH) {
      const batch: Row[] = [];
      for (let i = start; i < Math.min(rows, start + BATCH); i++) {
        const { row, amount } = generateRow(again, i);
        const high = amount >= threshold ? 1 : 0;
        positives += high;
        row.push(high);
        batch.push(row);
      }
      yield stringify(batch);
      options.onProgress?.(Math.min(rows, start + BATCH), rows);
    }
  }
  await pipeline(csvChunks, createWriteStream(out));
  return { path: out, rows, seed, positives, threshold };
}
