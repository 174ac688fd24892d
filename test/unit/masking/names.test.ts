import { describe, expect, it } from 'vitest';
import {
  compileTerms,
  CONTEXT_THRESHOLD,
  containsTerm,
  isSensitiveColumnName,
  looseConfidence,
  nameContext,
  nameWords,
  SENSITIVE_COLUMN_NAMES,
} from '../../../masking/names.js';

describe('nameWords', () => {
  it('splits snake, kebab, camel and digit edges, lower-cased', () => {
    expect(nameWords('customer_phone_2')).toEqual(['customer', 'phone', '2']);
    expect(nameWords('billingEmailAddress')).toEqual(['billing', 'email', 'address']);
    expect(nameWords('HTTPHeader')).toEqual(['http', 'header']);
    expect(nameWords('phone2')).toEqual(['phone', '2']);
    expect(nameWords('E-Mail')).toEqual(['e', 'mail']);
    expect(nameWords('"Weird Name"')).toEqual(['weird', 'name']);
    expect(nameWords('')).toEqual([]);
  });
});

describe('containsTerm', () => {
  const terms = compileTerms(['phone', 'social security']);
  it('matches whole words, plurals too, never inside a word', () => {
    expect(containsTerm(nameWords('home_phone_no'), terms)).toBe(true);
    expect(containsTerm(nameWords('phones'), terms)).toBe(true);
    expect(containsTerm(nameWords('socialSecurityNumber'), terms)).toBe(true);
    expect(containsTerm(nameWords('telephone'), terms)).toBe(false);
    expect(containsTerm(nameWords('headphone_model'), terms)).toBe(false);
    expect(containsTerm(nameWords('social'), terms)).toBe(false);
  });
});

describe('the built-in dictionary of sensitive column names (@sensitive)', () => {
  it('holds the names the issue lists', () => {
    for (const n of ['email', 'e mail', 'ssn', 'social security number', 'passport', 'iban', 'card number', 'cc number', 'pan', 'phone',
      'phone number', 'mobile', 'password', 'api key', 'secret', 'token', 'access token', 'refresh token', 'private key']) {
      expect(SENSITIVE_COLUMN_NAMES, n).toContain(n);
    }
  });
  it.each([
    'email', 'e_mail', 'EMail', 'user_email', 'billingEmailAddress', 'email_address', 'ssn', 'customer_ssn', 'ssn_hash',
    'social_security_number', 'passport', 'passport_no', 'iban', 'card_number', 'cc_number', 'pan', 'phone', 'phone_number',
    'home_phone2', 'mobile', 'password', 'password_hash', 'api_key', 'apiKey', 'stripe_api_key', 'secret', 'client_secret', 'token',
    'access_token', 'refresh_token', 'private_key', 'date_of_birth', 'dob', 'tax_id', 'cvv',
  ])('%s is sensitive', (name) => expect(isSensitiveColumnName(name)).toBe(true));
  it.each([
    'id', 'name', 'email_verified', 'token_type', 'password_changed_at', 'phone_count', 'is_mobile', 'has_password', 'telephone_model_x',
    'company', 'span', 'setting', 'hotel', 'tokens_used', 'secretary', 'created_at', 'description', '', 'number', 'hash',
  ])('%s is not sensitive', (name) => expect(isSensitiveColumnName(name)).toBe(false));
});

describe('context confidence', () => {
  const phoneTerms = compileTerms(['phone', 'mobile']);
  it('is below the threshold without context, above it with a column or table name', () => {
    expect(looseConfidence(phoneTerms, nameContext({ name: 'note' }))).toBeLessThan(CONTEXT_THRESHOLD);
    expect(looseConfidence(phoneTerms, nameContext({ name: 'x', column: 'mobile', table: 't' }))).toBeGreaterThanOrEqual(CONTEXT_THRESHOLD);
    expect(looseConfidence(phoneTerms, nameContext({ name: 'value', column: 'value', table: 'phone_numbers' }))).toBeGreaterThanOrEqual(CONTEXT_THRESHOLD);
    // an alias counts too (it can only add masking)
    expect(looseConfidence(phoneTerms, nameContext({ name: 'phone', column: 'c3' }))).toBe(0.7);
    expect(looseConfidence(phoneTerms, nameContext({ name: 'phone', column: 'phone', table: 'phones' }))).toBe(0.9);
  });
});
