import type { CodegenConfig } from '@graphql-codegen/cli';

// Typed documents for the tests: `graphql(...)` calls in test/ become typed strings.
const config: CodegenConfig = {
  schema: './schema.graphql',
  documents: ['test/**/*.ts', '!test/generated/**'],
  ignoreNoDocuments: true,
  generates: {
    './test/generated/': {
      preset: 'client',
      config: {
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        importExtension: '.ts',
      },
      presetConfig: { fragmentMasking: false },
    },
  },
  // Quiet unless asked: a failure of `npm test`'s pretest points here.
  silent: process.env.CODEGEN_VERBOSE !== '1',
};

export default config;
