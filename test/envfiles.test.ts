// Env files and the environment, in milliseconds: each .env line checked before dotenv reads it, which files
// are read and which wins, what reaches child commands, secrets masked in messages, misspellings.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maskValue } from '../lib/config.js';

test('a value in a message: secrets as their first two characters and length, long values cut', () => {
  assert.is(maskValue('DB_PASSWORD', 'hunter2-long'), 'hu****(12 chars)');
  assert.is(maskValue('LLMOPS_SLACK_WEBHOOK', 'abcd'), '****');
  assert.is(maskValue('AWS_SECRET_ACCESS_KEY', 'abcde'), 'ab****(5 chars)');
  assert.is(maskValue('PROJECT_NAME', 'x'.repeat(80)), 'x'.repeat(80));
  assert.is(maskValue('PROJECT_NAME', 'y'.repeat(81)), `${'y'.repeat(60)}…(81 chars)`);
});

test.run();
