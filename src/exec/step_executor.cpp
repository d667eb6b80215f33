#include "exec/step_executor.h"

#include <algorithm>

#include "dist/tbo_split.h"

namespace duet {

StepExecutor::StepExecutor(DeepseekModel& model, LatentCache& cache, Communicator* tp,
                           Communicator* dp, int64_t dp_rank, ExecutorOptions options)
    : model_(model), cache_(cache), tp_(tp), dp_(dp), dp_rank_(dp_rank), opt_(options) {
  expert_counts_.resize(static_cast<size_t>(model.config().num_hidden_layers));
  // Graphs need a step without collectives (they are host calls) and without test hooks.
  if (opt_.graphs && !tp_ && !dp_ && !opt_.poison_padding && !opt_.count_experts &&
      opt_.graph_scratch_block >= 0 && model.backend().can_capture())
    graphs_ = std::make_unique<DecodeGraphs>(model, cache, opt_.graph_scratch_block);
}

void StepExecutor::ensure(DeviceBuffer& buf, size_t bytes) {
  bytes = std::max<size_t>(bytes, 16);
  if (buf.bytes() < bytes)
    buf = DeviceBuffer(model_.backend(), std::max(bytes, buf.bytes() * 3 / 2));
}

void StepExecutor::run(const ForwardBatch& batch, StepOutput& out) {
  // 1. The one agreement: every DP rank's record, gathered everywhere.
  DpRecord rec;
  rec.num_tokens = static_cast<int32_t>(batch.num_tokens());
  rec.num_seqs = static_cast<int32_t>(batch.seqs.size());
  for (const auto& s : batch.seqs) rec.has_prefill |= s.decode ? 0 : 1;
  rec.tbo_split = opt_.tbo.enabled ? choose_tbo_split(batch) : rec.num_tokens;
  rec.tbo_eligible = 1;
  std::vector<DpRecord> records(dp_ ? dp_->size() : 1);
  if (dp_)
    dp_->all_gather_host(&rec, sizeof(rec), records.data());
  else
    records[0] = rec;
  plan_ = plan_step(records, opt_.tbo, opt_.gather);
  out = StepOutput{};
  if (plan_.idle) return;  // every rank agrees: no forward, no collectives
  if (graphs_ && !plan_.tbo && graphs_->run(batch, out)) return;

  // 2. Micro-batches: each owns its batch and buffers for the whole step.
  const int nm = plan_.num_micro_batches;
  std::vector<std::pair<int, int>> logit_order;
  if (plan_.tbo) {
    ++tbo_steps_;
    TboSplit split = split_batch(batch, rec.tbo_split);
    micro_[0].batch = std::move(split.a);
    micro_[1].batch = std::move(split.b);
    logit_order = std::move(split.logit_order);
    // Each micro-batch samples its own rows: hand it their settings.
    if (batch.samples_on_backend()) {
      for (auto& mi : micro_) {
        mi.batch.sample.assign(mi.batch.logit_rows.size(), SampleSpec{});
        mi.batch.logits_to_host.assign(mi.batch.logit_rows.size(), 0);
      }
      for (size_t i = 0; i < logit_order.size(); ++i) {
        const auto [m, row] = logit_order[i];
        micro_[m].batch.sample[row] = batch.sample[i];
        micro_[m].batch.logits_to_host[row] = batch.logits_to_host[i];
      }
    }
  } else {
    micro_[0].batch = batch;
    for (size_t i = 0; i < batch.logit_rows.size(); ++i)
      logit_order.emplace_back(0, static_cast<int>(i));
  }
  for (int m = 0; m < nm; ++m) {
    DUET_CHECK(plan_.counts[m][dp_rank_] == micro_[m].batch.num_tokens(), "micro-batch ", m,
               " holds ", micro_[m].batch.num_tokens(), " tokens but the plan says ",
               plan_.counts[m][dp_rank_]);
    model_.begin(micro_[m].mb, micro_[m].batch);
    prepare_gather(micro_[m], m);
  }

  // 3. Layer stages in one fixed interleaved order (identical on every rank: it depends only on
  // the plan): with two micro-batches A's gather overlaps B's attention, B's gather A's experts.
  for (int64_t l = 0; l < model_.config().num_hidden_layers; ++l) {
    if (!model_.is_moe(l)) {
      for (int m = 0; m < nm; ++m) {
        attn_stage(micro_[m], l);
        dense_stage(micro_[m], l);
      }
    } else if (nm == 1) {
      attn_stage(micro_[0], l);
      gather_stage(micro_[0], l);
      experts_stage(micro_[0], l);
      scatter_stage(micro_[0], l);
    } else {
      attn_stage(micro_[0], l);
      gather_stage(micro_[0], l);
      attn_stage(micro_[1], l);
      experts_stage(micro_[0], l);
      gather_stage(micro_[1], l);
      scatter_stage(micro_[0], l);
      experts_stage(micro_[1], l);
      scatter_stage(micro_[1], l);
    }
  }

  // 4. Tokens and logits back in the batch's row order.
  const int64_t V = model_.config().vocab_size;
  std::array<StepOutput, 2> per;
  for (int m = 0; m < nm; ++m) {
    model_.lm_head(micro_[m].mb);
    model_.finish_step(micro_[m].mb, per[m]);
  }
  // Row r of micro-batch m is its host_index[m][r]-th row returned as logits (-1: sampled).
  std::array<std::vector<int64_t>, 2> host_index;
  for (int m = 0; m < nm; ++m) {
    const ForwardBatch& mbatch = micro_[m].batch;
    int64_t next = 0;
    for (size_t r = 0; r < mbatch.logit_rows.size(); ++r)
      host_index[m].push_back(!mbatch.samples_on_backend() || mbatch.logits_to_host[r] ? next++
                                                                                       : -1);
  }
  if (batch.samples_on_backend()) out.tokens.assign(logit_order.size(), -1);
  for (size_t i = 0; i < logit_order.size(); ++i) {
    const auto [m, row] = logit_order[i];
    if (batch.samples_on_backend()) out.tokens[i] = per[m].tokens[row];
    const int64_t h = host_index[m][row];
    if (h < 0) continue;
    out.logits.insert(out.logits.end(), per[m].logits.begin() + h * V,
                      per[m].logits.begin() + (h + 1) * V);
  }
}

void StepExecutor::prepare_gather(Micro& m, int index) {
  if (!dp_) return;
  Backend& be = model_.backend();
  const int64_t H = model_.config().hidden_size;
  const size_t esize = dtype_size(be.act_dtype());
  m.rows_total = plan_.gathered_rows(index);
  m.padded_local = plan_.padded[index][dp_rank_];
  // send [padded_local, H], gathered/partial [rows_total, H], recv [padded_local, H].
  ensure(m.send, static_cast<size_t>(m.padded_local * H) * esize);
  ensure(m.gathered, static_cast<size_t>(m.rows_total * H) * esize);
  ensure(m.partial, static_cast<size_t>(m.rows_total * H) * esize);
  ensure(m.recv, static_cast<size_t>(m.padded_local * H) * esize);
  ensure(m.valid, static_cast<size_t>(m.rows_total) * sizeof(int32_t));
  m.t_send = Tensor::matrix(m.send.get(), be.act_dtype(), m.padded_local, H);
  m.t_gathered = Tensor::matrix(m.gathered.get(), be.act_dtype(), m.rows_total, H);
  m.t_partial = Tensor::matrix(m.partial.get(), be.act_dtype(), m.rows_total, H);
  m.t_recv = Tensor::matrix(m.recv.get(), be.act_dtype(), m.padded_local, H);
  // valid [rows_total]: real rows route, pad rows select no expert.
  std::vector<int32_t> valid(static_cast<size_t>(m.rows_total), 0);
  for (size_t r = 0; r < plan_.counts[index].size(); ++r)
    for (int64_t i = 0; i < plan_.counts[index][r]; ++i) valid[plan_.offsets[index][r] + i] = 1;
  m.t_valid = Tensor::vector(m.valid.get(), DType::kI32, m.rows_total);
  if (!valid.empty())
    be.copy_to_device(m.valid.get(), valid.data(), valid.size() * sizeof(int32_t));
}

void StepExecutor::attn_stage(Micro& m, int64_t l) {
  model_.attention(m.mb, l, cache_);
  if (tp_) tp_->all_reduce(m.mb.sub_out);  // heads are split over the attention-TP ranks
  model_.post_attention(m.mb, l);
}

void StepExecutor::dense_stage(Micro& m, int64_t l) {
  model_.dense_mlp(m.mb, l);  // replicated on every rank: no communication
  model_.finish_layer(m.mb, l);
}

void StepExecutor::gather_stage(Micro& m, int64_t l) {
  (void)l;
  if (!dp_) return;
  Backend& be = model_.backend();
  const int64_t T = m.mb.num_tokens;
  if (T > 0)
    be.copy_device(m.t_send.data, m.mb.normed.data,
                   static_cast<size_t>(T * m.t_send.cols) * m.t_send.elem_size());
  // Pad rows are excluded from routing; zero them (or poison them in tests to prove it).
  if (m.padded_local > T) {
    const Tensor pad = m.t_send.slice_rows(T, m.padded_local);
    opt_.poison_padding ? be.fill_nan(pad) : be.fill_zero(pad);
  }
  if (opt_.poison_padding) be.fill_nan(m.t_gathered);
  dp_->all_gather_v(m.t_send, plan_.padded[&m - micro_.data()], m.t_gathered);
}

void StepExecutor::experts_stage(Micro& m, int64_t l) {
  std::vector<int64_t>* counts = opt_.count_experts ? &expert_counts_[l] : nullptr;
  if (!dp_) {
    model_.routed_experts(m.mb, l, m.mb.normed, Tensor{}, m.mb.ffn_out, counts);
    return;
  }
  if (opt_.poison_padding) model_.backend().fill_nan(m.t_partial);
  model_.routed_experts(m.mb, l, m.t_gathered, m.t_valid, m.t_partial, counts);
}

void StepExecutor::scatter_stage(Micro& m, int64_t l) {
  Backend& be = model_.backend();
  if (dp_) {
    dp_->reduce_scatter_v(m.t_partial, plan_.padded[&m - micro_.data()], m.t_recv);
    const int64_t T = m.mb.num_tokens;
    if (T > 0)
      be.copy_device(m.mb.ffn_out.data, m.t_recv.data,
                     static_cast<size_t>(T * m.t_recv.cols) * m.t_recv.elem_size());
  }
  // Experts are sharded over every rank: the attention-TP peers hold the other parts.
  if (tp_) tp_->all_reduce(m.mb.ffn_out);
  model_.shared_experts(m.mb, l);
  model_.finish_layer(m.mb, l);
}

}  // namespace duet
