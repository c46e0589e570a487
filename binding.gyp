# The addon build that ships (prebuildify) and the from-source fallback (node-gyp).
# Sources and per-ISA flags come from sources.json, the list CMakeLists.txt reads too.
{
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fPIC", "-ffp-contract=off"],
    "cflags": ["-O3", "-fPIC"],
    "include_dirs": ["native/kernels", "native/addon"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"]
  },
  "targets": [
    {
      "target_name": "anyprec_isa",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["anyprec_avx2", "anyprec_avx512", "anyprec_avxvnni", "anyprec_avx512vnni", "anyprec_amx"]
        }],
        ["target_arch=='arm64'", {
          "sources": ["<!@(node -p \"require('./sources.json').arm64.neon.sources.join(' ')\")"],
          "dependencies": ["anyprec_neondot"]
        }]
      ]
    },
    {
      "target_name": "anyprec",
      "dependencies": ["anyprec_isa"],
      "sources": [
        "<!@(node -p \"require('./sources.json').kernels.join(' ')\")",
        "<!@(node -p \"require('./sources.json').addon.join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["target_arch=='x64'", { "libraries": [] }],
        # Calls between the addon's own functions bind at link time, not through the PLT: no
        # lazy symbol lookups on first calls in a fresh process (266 of the 400 PLT slots were the
        # addon's own functions; the load-time self-test is the first to call most of them).
        ["OS=='linux'", { "ldflags": ["-Wl,-Bsymbolic-functions"] }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "anyprec_avx2",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./sources.json').x86.avx2.sources.join(' ')\")"],
          "cflags_cc": ["<!@(node -p \"require('./sources.json').x86.avx2.flags.join(' ')\")"]
        },
        {
          "target_name": "anyprec_avx512",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./sources.json').x86.avx512.sources.join(' ')\")"],
          "cflags_cc": ["<!@(node -p \"require('./sources.json').x86.avx512.flags.join(' ')\")"]
        },
        {
          "target_name": "anyprec_avxvnni",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./sources.json').x86.avxvnni.sources.join(' ')\")"],
          "cflags_cc": ["<!@(node -p \"require('./sources.json').x86.avxvnni.flags.join(' ')\")"]
        },
        {
          "target_name": "anyprec_avx512vnni",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./sources.json').x86.avx512vnni.sources.join(' ')\")"],
          "cflags_cc": ["<!@(node -p \"require('./sources.json').x86.avx512vnni.flags.join(' ')\")"]
        },
        {
          "target_name": "anyprec_amx",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./sources.json').x86.amx.sources.join(' ')\")"],
          "cflags_cc": ["<!@(node -p \"require('./sources.json').x86.amx.flags.join(' ')\")"]
        }
      ]
    }],
    ["target_arch=='arm64'", {
      "targets": [
        {
          "target_name": "anyprec_neondot",
          "type": "static_library",
          "sources": ["<!@(node -p \"require('./sources.json').arm64.neondot.sources.join(' ')\")"],
          "cflags_cc": ["<!@(node -p \"require('./sources.json').arm64.neondot.flags.join(' ')\")"]
        }
      ]
    }]
  ]
}
