// BC7 blocks. Every candidate mode is fitted the same way, subset by subset: a line along the
// texels' principal axis, endpoints quantised with the p-bits that suit them, nearest palette
// entry per texel, then least-squares refits kept while they lower the exact error. Which modes
// and partitions are fitted depends on the quality: Fast fits mode 6 alone (one subset, 4-bit
// indices, good on smooth blocks); Normal adds the two-subset modes 1 and 3 on the partitions
// whose subsets have the least spread; Best also fits the three-subset modes 0 and 2 and walks
// the p-bits exhaustively. Blocks with alpha below 255 also try mode 5 (alpha with its own
// indices) and, above Fast, mode 7; solid blocks are written exactly in mode 5.
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>

#include "bc7_modes.hpp"
#include "bc_encoders.hpp"
#include "bits.hpp"
#include "bptc_tables.hpp"

namespace gpumem::detail {
namespace {

constexpr int kTexels = 16;

// For every endpoint width (p-bit included, 4..8 bits) and p-bit: the stored value whose
// unquantised value is nearest to each 8-bit target.
struct QuantTables {
  std::uint8_t nearest[9][2][256] = {};
  QuantTables() {
    for (int bits = 4; bits <= 8; ++bits) {
      for (int p = 0; p < 2; ++p) {
        for (int v = 0; v < 256; ++v) {
          int best = 0, best_error = INT_MAX;
          for (int q = 0; q < (1 << (bits - 1)); ++q) {
            const int error = std::abs(bc7_unquantize((q << 1) | p, bits) - v);
            if (error < best_error) best_error = error, best = q;
          }
          nearest[bits][p][v] = static_cast<std::uint8_t>(best);
        }
        // Widths without p-bit use nearest[bits][0] of a table built without one.
      }
    }
    for (int bits = 4; bits <= 8; ++bits) {
      for (int v = 0; v < 256; ++v) {
        int best = 0, best_error = INT_MAX;
        for (int q = 0; q < (1 << bits); ++q) {
          const int error = std::abs(bc7_unquantize(q, bits) - v);
          if (error < best_error) best_error = error, best = q;
        }
        plain[bits][v] = static_cast<std::uint8_t>(best);
      }
    }
  }
  std::uint8_t plain[9][256] = {};
};

const QuantTables& quant_tables() {
  static const QuantTables kTables;
  return kTables;
}

struct Texels {
  alignas(16) int c[4][kTexels];
};

// One subset's fit: stored endpoint values (without p-bit), p-bits, indices of its members.
struct SubsetFit {
  int q[2][4] = {};
  int p[2] = {};
  std::uint8_t index[kTexels] = {};  // by member position
  int error = INT_MAX;
};

// What one fit covers: channels [first, last) of a mode's endpoints with one index set.
struct ModeSpec {
  int number;
  const Bc7Mode* mode;
  int first = 0;
  int last = 4;         // 3: RGB only
  bool opaque = false;  // modes 0-3: alpha decodes to 255 and counts as error against it
  int index_bits = 0;   // of the index set this fit fills
};

int endpoint_value(const ModeSpec& spec, const SubsetFit& f, int e, int ch) {
  const Bc7Mode& m = *spec.mode;
  const bool has_p = m.endpoint_pbits || m.shared_pbits;
  const int bits = (ch < 3 ? m.colour_bits : m.alpha_bits) + (has_p ? 1 : 0);
  const int stored = has_p ? (f.q[e][ch] << 1) | f.p[e] : f.q[e][ch];
  return bc7_unquantize(stored, bits);
}

// Nearest palette entry for each member; returns the squared error.
int assign(const Texels& t, const ModeSpec& spec, const std::uint8_t* members, int count,
           SubsetFit& f) {
  const int entries = 1 << spec.index_bits;
  const std::uint8_t* weights = bptc_weights(spec.index_bits);
  int ep[2][4];
  for (int e = 0; e < 2; ++e) {
    for (int ch = spec.first; ch < spec.last; ++ch) ep[e][ch] = endpoint_value(spec, f, e, ch);
  }
  int pal[16][4];
  for (int k = 0; k < entries; ++k) {
    for (int ch = spec.first; ch < spec.last; ++ch) {
      pal[k][ch] = bptc_interpolate(ep[0][ch], ep[1][ch], weights[k]);
    }
  }
  // The palette lies on a line: project each texel onto it for a first guess, then settle
  // between that entry and its neighbours by exact error (the weights are not quite uniform).
  float dir[4] = {};
  float len2 = 0;
  for (int ch = spec.first; ch < spec.last; ++ch) {
    dir[ch] = static_cast<float>(ep[1][ch] - ep[0][ch]);
    len2 += dir[ch] * dir[ch];
  }
  const float scale = len2 > 0 ? static_cast<float>(entries - 1) / len2 : 0.0F;
  int error = 0;
  for (int j = 0; j < count; ++j) {
    const int i = members[j];
    float proj = 0;
    for (int ch = spec.first; ch < spec.last; ++ch) {
      proj += static_cast<float>(t.c[ch][i] - ep[0][ch]) * dir[ch];
    }
    const int guess = std::clamp(round_non_negative(std::max(0.0F, proj * scale)), 0, entries - 1);
    int best = INT_MAX, choice = 0;
    for (int k = std::max(0, guess - 1); k <= std::min(entries - 1, guess + 1); ++k) {
      int d = 0;
      for (int ch = spec.first; ch < spec.last; ++ch) {
        const int diff = t.c[ch][i] - pal[k][ch];
        d += diff * diff;
      }
      if (d < best) best = d, choice = k;
    }
    f.index[j] = static_cast<std::uint8_t>(choice);
    error += best;
  }
  if (spec.opaque) {  // alpha decodes to 255 in modes 0-3
    for (int j = 0; j < count; ++j) {
      const int diff = t.c[3][members[j]] - 255;
      error += diff * diff;
    }
  }
  f.error = error;
  return error;
}

// Stored values for float endpoints under the given p-bits.
void quantise(const ModeSpec& spec, const float (&ends)[2][4], const int (&p)[2], SubsetFit& f) {
  const QuantTables& tab = quant_tables();
  const Bc7Mode& m = *spec.mode;
  const bool has_p = m.endpoint_pbits || m.shared_pbits;
  for (int e = 0; e < 2; ++e) {
    f.p[e] = p[e];
    for (int ch = spec.first; ch < spec.last; ++ch) {
      const int v = static_cast<int>(std::lround(std::clamp(ends[e][ch], 0.0F, 255.0F)));
      const int bits = ch < 3 ? m.colour_bits : m.alpha_bits;
      f.q[e][ch] = has_p ? tab.nearest[bits + 1][p[e]][v] : tab.plain[bits][v];
    }
  }
}

// Tries the p-bit choices the mode allows and keeps the best quantisation of `ends`.
void quantise_best(const Texels& t, const ModeSpec& spec, const std::uint8_t* members, int count,
                   const float (&ends)[2][4], bool exhaustive, SubsetFit& best) {
  const Bc7Mode& m = *spec.mode;
  static constexpr int kEndpointPbits[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
  static constexpr int kSharedPbits[2][2] = {{0, 0}, {1, 1}};
  const int(*choices)[2] = m.endpoint_pbits ? kEndpointPbits : kSharedPbits;
  const int n = m.endpoint_pbits ? 4 : m.shared_pbits ? 2 : 1;
  if (!exhaustive && n > 1) {
    // Pick the p-bits whose quantised endpoints land nearest their targets; one fit instead
    // of two or four, at a small cost in quality.
    int p[2] = {};
    float cost[2][2] = {};  // [endpoint][p-bit]
    for (int pb = 0; pb < 2; ++pb) {
      SubsetFit f;
      const int both[2] = {pb, pb};
      quantise(spec, ends, both, f);
      for (int e = 0; e < 2; ++e) {
        for (int ch = spec.first; ch < spec.last; ++ch) {
          const float d = static_cast<float>(endpoint_value(spec, f, e, ch)) - ends[e][ch];
          cost[e][pb] += d * d;
        }
      }
    }
    if (m.endpoint_pbits) {
      p[0] = cost[0][1] < cost[0][0] ? 1 : 0;
      p[1] = cost[1][1] < cost[1][0] ? 1 : 0;
    } else {
      p[0] = p[1] = cost[0][1] + cost[1][1] < cost[0][0] + cost[1][0] ? 1 : 0;
    }
    SubsetFit f;
    quantise(spec, ends, p, f);
    if (assign(t, spec, members, count, f) < best.error) best = f;
    return;
  }
  for (int c = 0; c < n; ++c) {
    SubsetFit f;
    const int p[2] = {choices[c][0], choices[c][1]};
    quantise(spec, ends, p, f);
    if (assign(t, spec, members, count, f) < best.error) best = f;
  }
}

bool refit(const Texels& t, const ModeSpec& spec, const std::uint8_t* members, int count,
           const SubsetFit& f, float (&ends)[2][4]) {
  const std::uint8_t* weights = bptc_weights(spec.index_bits);
  float aa = 0, bb = 0, ab = 0;
  float ax[4] = {}, bx[4] = {};
  for (int j = 0; j < count; ++j) {
    const float b = static_cast<float>(weights[f.index[j]]) / 64.0F;  // weight of endpoint 1
    const float a = 1.0F - b;
    aa += a * a, bb += b * b, ab += a * b;
    for (int ch = spec.first; ch < spec.last; ++ch) {
      ax[ch] += a * static_cast<float>(t.c[ch][members[j]]);
      bx[ch] += b * static_cast<float>(t.c[ch][members[j]]);
    }
  }
  const float det = aa * bb - ab * ab;
  if (std::fabs(det) < 1e-4F) return false;
  for (int ch = spec.first; ch < spec.last; ++ch) {
    ends[0][ch] = (bb * ax[ch] - ab * bx[ch]) / det;
    ends[1][ch] = (aa * bx[ch] - ab * ax[ch]) / det;
  }
  return true;
}

void principal_line(const Texels& t, int first, int last, const std::uint8_t* members, int count,
                    float (&ends)[2][4]) {
  float mean[4] = {};
  for (int j = 0; j < count; ++j) {
    for (int ch = first; ch < last; ++ch) mean[ch] += static_cast<float>(t.c[ch][members[j]]);
  }
  for (int ch = first; ch < last; ++ch) mean[ch] /= static_cast<float>(count);
  float cov[4][4] = {};
  for (int j = 0; j < count; ++j) {
    float d[4];
    for (int ch = first; ch < last; ++ch)
      d[ch] = static_cast<float>(t.c[ch][members[j]]) - mean[ch];
    for (int a = first; a < last; ++a) {
      for (int b = a; b < last; ++b) cov[a][b] += d[a] * d[b];
    }
  }
  for (int a = first; a < last; ++a) {
    for (int b = first; b < a; ++b) cov[a][b] = cov[b][a];
  }
  int widest = first;
  for (int ch = first + 1; ch < last; ++ch) {
    if (cov[ch][ch] > cov[widest][widest]) widest = ch;
  }
  float v[4] = {};
  for (int ch = first; ch < last; ++ch) v[ch] = cov[widest][ch];
  for (int iter = 0; iter < 4; ++iter) {
    float w[4] = {};
    float m = 0;
    for (int a = first; a < last; ++a) {
      for (int b = first; b < last; ++b) w[a] += cov[a][b] * v[b];
      m = std::max(m, std::fabs(w[a]));
    }
    if (m < 1e-6F) break;
    for (int ch = first; ch < last; ++ch) v[ch] = w[ch] / m;
  }
  float len2 = 0;
  for (int ch = first; ch < last; ++ch) len2 += v[ch] * v[ch];
  float tmin = 0, tmax = 0;
  if (len2 > 1e-12F) {
    tmin = 1e30F, tmax = -1e30F;
    for (int j = 0; j < count; ++j) {
      float proj = 0;
      for (int ch = first; ch < last; ++ch) {
        proj += (static_cast<float>(t.c[ch][members[j]]) - mean[ch]) * v[ch];
      }
      tmin = std::min(tmin, proj), tmax = std::max(tmax, proj);
    }
    tmin /= len2, tmax /= len2;
  }
  for (int ch = first; ch < last; ++ch) {
    ends[0][ch] = mean[ch] + v[ch] * tmin;
    ends[1][ch] = mean[ch] + v[ch] * tmax;
  }
}

SubsetFit fit_subset(const Texels& t, const ModeSpec& spec, const std::uint8_t* members, int count,
                     int passes, bool exhaustive) {
  float ends[2][4] = {};
  principal_line(t, spec.first, spec.last, members, count, ends);
  SubsetFit best;
  quantise_best(t, spec, members, count, ends, exhaustive, best);
  for (int pass = 0; pass < passes && best.error > 0; ++pass) {
    if (!refit(t, spec, members, count, best, ends)) break;
    SubsetFit next;
    quantise_best(t, spec, members, count, ends, exhaustive, next);
    if (next.error >= best.error) break;
    best = next;
  }
  return best;
}

struct BlockFit {
  int mode = -1;
  int partition = 0;
  int error = INT_MAX;
  SubsetFit subset[3];
  SubsetFit alpha;  // mode 5: alpha endpoints and its own index set
};

// Mode 5, rotation 0: RGB (7 bits) and alpha (8 bits) each with their own 2-bit indices, the
// mode for blocks whose alpha does not follow their colour.
BlockFit fit_mode5(const Texels& t, int passes, bool exhaustive) {
  static constexpr std::uint8_t kAll[kTexels] = {0, 1, 2,  3,  4,  5,  6,  7,
                                                 8, 9, 10, 11, 12, 13, 14, 15};
  const ModeSpec colour{5, &kBc7Modes[5], 0, 3, false, 2};
  const ModeSpec alpha{5, &kBc7Modes[5], 3, 4, false, 2};
  BlockFit fit;
  fit.mode = 5;
  fit.subset[0] = fit_subset(t, colour, kAll, kTexels, passes, exhaustive);
  fit.alpha = fit_subset(t, alpha, kAll, kTexels, passes, exhaustive);
  fit.error = fit.subset[0].error + fit.alpha.error;
  return fit;
}

// For a solid block: 7-bit endpoint pairs whose index-1 entry (weight 21) is each 8-bit value,
// so mode 5 reproduces any colour exactly (alpha has 8-bit endpoints of its own).
struct SolidTable {
  std::uint8_t pair[256][2] = {};
  SolidTable() {
    int best_gap[256];
    std::fill(std::begin(best_gap), std::end(best_gap), INT_MAX);
    for (int a = 0; a < 128; ++a) {
      for (int b = 0; b < 128; ++b) {
        const int v = bptc_interpolate(bc7_unquantize(a, 7), bc7_unquantize(b, 7), 21);
        if (std::abs(a - b) < best_gap[v]) {
          best_gap[v] = std::abs(a - b);
          pair[v][0] = static_cast<std::uint8_t>(a);
          pair[v][1] = static_cast<std::uint8_t>(b);
        }
      }
    }
  }
};

BlockFit solid_block(const std::uint8_t* rgba) {
  static const SolidTable kSolid;
  BlockFit fit;
  fit.mode = 5;
  fit.error = 0;
  for (int ch = 0; ch < 3; ++ch) {
    fit.subset[0].q[0][ch] = kSolid.pair[rgba[ch]][0];
    fit.subset[0].q[1][ch] = kSolid.pair[rgba[ch]][1];
  }
  std::fill(std::begin(fit.subset[0].index), std::end(fit.subset[0].index), std::uint8_t{1});
  fit.alpha.q[0][3] = fit.alpha.q[1][3] = rgba[3];
  return fit;
}

void write_mode5(const BlockFit& fit, std::uint8_t* out) {
  SubsetFit colour = fit.subset[0];
  SubsetFit alpha = fit.alpha;
  // Each index set's texel 0 is its anchor: its top bit must be clear.
  if (colour.index[0] & 2) {
    std::swap(colour.q[0], colour.q[1]);
    for (std::uint8_t& i : colour.index) i = static_cast<std::uint8_t>(3 - i);
  }
  if (alpha.index[0] & 2) {
    std::swap(alpha.q[0], alpha.q[1]);
    for (std::uint8_t& i : alpha.index) i = static_cast<std::uint8_t>(3 - i);
  }
  BitWriter w;
  w.write(1U << 5, 6);
  w.write(0, 2);  // rotation: none
  for (int ch = 0; ch < 3; ++ch) {
    for (int e = 0; e < 2; ++e) w.write(static_cast<std::uint32_t>(colour.q[e][ch]), 7);
  }
  for (int e = 0; e < 2; ++e) w.write(static_cast<std::uint32_t>(alpha.q[e][3]), 8);
  for (int i = 0; i < kTexels; ++i) w.write(colour.index[i], i == 0 ? 1 : 2);
  for (int i = 0; i < kTexels; ++i) w.write(alpha.index[i], i == 0 ? 1 : 2);
  w.store(out);
}

BlockFit fit_mode(const Texels& t, const ModeSpec& spec, int partition, int passes,
                  bool exhaustive) {
  const int subsets = spec.mode->subsets;
  const std::uint8_t* subset_of = partition_table(subsets, partition);
  BlockFit fit;
  fit.mode = spec.number;
  fit.partition = partition;
  fit.error = 0;
  for (int s = 0; s < subsets; ++s) {
    std::uint8_t members[kTexels];
    int count = 0;
    for (int i = 0; i < kTexels; ++i) {
      if (subset_of[i] == s) members[count++] = static_cast<std::uint8_t>(i);
    }
    fit.subset[s] = fit_subset(t, spec, members, count, passes, exhaustive);
    fit.error += fit.subset[s].error;
  }
  return fit;
}

void write_block(const BlockFit& fit, std::uint8_t* out) {
  if (fit.mode == 5) {
    write_mode5(fit, out);
    return;
  }
  const Bc7Mode& m = kBc7Modes[fit.mode];
  const int subsets = m.subsets;
  const std::uint8_t* subset_of = partition_table(subsets, fit.partition);
  // Per-texel indices, and the anchor rule: each subset's anchor index must have its top bit
  // clear, so a subset whose anchor is in the upper half swaps its endpoints.
  SubsetFit sub[3];
  std::uint8_t index[kTexels];
  {
    int seen[3] = {};
    for (int i = 0; i < kTexels; ++i) {
      const int s = subset_of[i];
      index[i] = fit.subset[s].index[seen[s]++];
    }
  }
  const int top = 1 << (m.index_bits - 1);
  for (int s = 0; s < subsets; ++s) {
    sub[s] = fit.subset[s];
    int anchor = 0;
    for (int i = 0; i < kTexels; ++i) {
      if (subset_of[i] == s && is_anchor(subsets, fit.partition, i)) {
        anchor = i;
        break;
      }
    }
    if (index[anchor] & top) {
      std::swap(sub[s].q[0], sub[s].q[1]);
      std::swap(sub[s].p[0], sub[s].p[1]);
      for (int i = 0; i < kTexels; ++i) {
        if (subset_of[i] == s) index[i] = static_cast<std::uint8_t>((2 * top - 1) - index[i]);
      }
    }
  }
  BitWriter w;
  w.write(1U << fit.mode, fit.mode + 1);
  w.write(static_cast<std::uint32_t>(fit.partition), m.partition_bits);
  for (int ch = 0; ch < 3; ++ch) {
    for (int s = 0; s < subsets; ++s) {
      for (int e = 0; e < 2; ++e)
        w.write(static_cast<std::uint32_t>(sub[s].q[e][ch]), m.colour_bits);
    }
  }
  if (m.alpha_bits) {
    for (int s = 0; s < subsets; ++s) {
      for (int e = 0; e < 2; ++e) w.write(static_cast<std::uint32_t>(sub[s].q[e][3]), m.alpha_bits);
    }
  }
  for (int s = 0; s < subsets; ++s) {
    if (m.endpoint_pbits) {
      w.write(static_cast<std::uint32_t>(sub[s].p[0]), 1);
      w.write(static_cast<std::uint32_t>(sub[s].p[1]), 1);
    } else if (m.shared_pbits) {
      w.write(static_cast<std::uint32_t>(sub[s].p[0]), 1);
    }
  }
  for (int i = 0; i < kTexels; ++i) {
    w.write(index[i], m.index_bits - (is_anchor(subsets, fit.partition, i) ? 1 : 0));
  }
  w.store(out);
}

// Partitions ranked by how tightly their subsets cluster (sum of squared distances to each
// subset's mean): a cheap stand-in for the error a full fit would reach.
int rank_partitions(const Texels& t, int subsets, int candidates, int keep, int* best) {
  int sum_sq[kTexels];
  for (int i = 0; i < kTexels; ++i) {
    sum_sq[i] = t.c[0][i] * t.c[0][i] + t.c[1][i] * t.c[1][i] + t.c[2][i] * t.c[2][i] +
                t.c[3][i] * t.c[3][i];
  }
  std::array<std::pair<float, int>, 64> scores{};
  for (int p = 0; p < candidates; ++p) {
    const std::uint8_t* subset_of = partition_table(subsets, p);
    float sums[3][5] = {};
    for (int i = 0; i < kTexels; ++i) {
      float* s = sums[subset_of[i]];
      s[0] += static_cast<float>(t.c[0][i]);
      s[1] += static_cast<float>(t.c[1][i]);
      s[2] += static_cast<float>(t.c[2][i]);
      s[3] += static_cast<float>(t.c[3][i]);
      s[4] += static_cast<float>(sum_sq[i]);
    }
    int counts[3] = {};
    for (int i = 0; i < kTexels; ++i) ++counts[subset_of[i]];
    float spread = 0;
    for (int s = 0; s < subsets; ++s) {
      const float n = static_cast<float>(counts[s]);
      spread += sums[s][4] - (sums[s][0] * sums[s][0] + sums[s][1] * sums[s][1] +
                              sums[s][2] * sums[s][2] + sums[s][3] * sums[s][3]) /
                                 n;
    }
    scores[static_cast<std::size_t>(p)] = {spread, p};
  }
  keep = std::min(keep, candidates);
  std::partial_sort(scores.begin(), scores.begin() + keep, scores.begin() + candidates);
  for (int k = 0; k < keep; ++k) best[k] = scores[static_cast<std::size_t>(k)].second;
  return keep;
}

}  // namespace

void encode_bc7_block(const std::uint8_t* rgba, std::uint8_t* out, EncodeQuality quality) {
  Texels t;
  bool opaque = true;
  bool solid = true;
  for (int i = 0; i < kTexels; ++i) {
    for (int ch = 0; ch < 4; ++ch) t.c[ch][i] = rgba[i * 4 + ch];
    opaque = opaque && rgba[i * 4 + 3] == 255;
    solid = solid && std::memcmp(rgba, rgba + std::ptrdiff_t{i} * 4, 4) == 0;
  }
  if (solid) {
    write_block(solid_block(rgba), out);
    return;
  }
  const int passes = quality == EncodeQuality::Fast ? 1 : quality == EncodeQuality::Normal ? 2 : 4;
  const bool exhaustive = quality == EncodeQuality::Best;
  auto spec = [](int number, bool rgba_endpoints) {
    const Bc7Mode& m = kBc7Modes[number];
    return ModeSpec{number, &m, 0, rgba_endpoints ? 4 : 3, !rgba_endpoints, m.index_bits};
  };

  BlockFit best = fit_mode(t, spec(6, true), 0, passes, exhaustive);
  if (!opaque) {
    BlockFit f = fit_mode5(t, passes, exhaustive);
    if (f.error < best.error) best = f;
  }
  auto consider = [&](const ModeSpec& s, int partition) {
    if (best.error == 0) return;
    BlockFit f = fit_mode(t, s, partition, passes, exhaustive);
    if (f.error < best.error) best = f;
  };
  if (quality != EncodeQuality::Fast && best.error > 0) {
    int partitions[64];
    const int keep2 = quality == EncodeQuality::Best ? 6 : 2;
    const int n2 = rank_partitions(t, 2, 64, keep2, partitions);
    for (int k = 0; k < n2; ++k) {
      if (opaque) {
        consider(spec(1, false), partitions[k]);
        consider(spec(3, false), partitions[k]);
      } else {
        consider(spec(7, true), partitions[k]);
      }
    }
    if (opaque && quality == EncodeQuality::Best) {
      const int n3 = rank_partitions(t, 3, 64, 4, partitions);
      for (int k = 0; k < n3; ++k) consider(spec(2, false), partitions[k]);
      const int n0 = rank_partitions(t, 3, 16, 2, partitions);
      for (int k = 0; k < n0; ++k) consider(spec(0, false), partitions[k]);
    }
  }
  write_block(best, out);
}

}  // namespace gpumem::detail
