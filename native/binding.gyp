# Builds the optional native backend: `node scripts/build-native.mjs` (run by `npm install`) or
# `npm run build:native`. Needs a C++17 compiler and oneDNN (Debian/Ubuntu: `apt-get install libdnnl-dev`,
# macOS: `brew install onednn libomp`). Set DNNL_ROOT to use a oneDNN installed elsewhere.
{
  'variables': {
    'dnnl_root%': '<!(node -p "process.env.DNNL_ROOT || (process.platform === \'darwin\' ? \'/opt/homebrew\' : \'/usr\')")',
  },
  'targets': [
    {
      'target_name': 'infobatch_native',
      'sources': ['src/addon.cc', 'src/dnnl_ops.cc', 'src/elementwise.cc', 'src/batch_norm.cc'],
      # node-addon-api is header-only; C++ exceptions carry oneDNN's errors to JavaScript.
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")", '<(dnnl_root)/include'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'libraries': ['-L<(dnnl_root)/lib', '-ldnnl'],
      'conditions': [
        ['OS=="linux"', {
          'cflags_cc': ['-std=c++17', '-O3', '-fopenmp', '-Wall', '-Wextra', '-Wno-unused-parameter'],
          'ldflags': ['-fopenmp', '-Wl,-rpath,<(dnnl_root)/lib'],
        }],
        ['OS=="mac"', {
          'xcode_settings': {
            'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
            'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
            'GCC_OPTIMIZATION_LEVEL': '3',
            'OTHER_CPLUSPLUSFLAGS': ['-Xpreprocessor', '-fopenmp', '-I<(dnnl_root)/opt/libomp/include'],
            'OTHER_LDFLAGS': ['-L<(dnnl_root)/opt/libomp/lib', '-lomp', '-Wl,-rpath,<(dnnl_root)/lib'],
          },
        }],
      ],
    },
  ],
}
