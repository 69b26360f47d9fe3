import { isPublicAddress } from '../lib/publicAddress';

test.each([
  ['::', false],
  ['::1', false],
  ['::7f00:1', false],
  ['::10.0.0.1', false],
  ['2002:7f00:1::', false],
  ['2002:a00:1::1', false],
  ['64:ff9b:1::a00:1', false],
  ['fec0::1', false],
  ['::ffff:127.0.0.1', false],
  ['64:ff9b::10.0.0.1', false],
  ['fd12::1', false],
  ['2606:4700::1111', true],
  ['64:ff9b::8.8.8.8', true],
  ['93.184.216.34', true],
])('%s is public: %s', (address, expected) => {
  expect(isPublicAddress(address)).toBe(expected);
});
