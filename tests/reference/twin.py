"""twin.py — the OVSegmentor model and its stage-1 losses in plain PyTorch (CPU), written after the
paper's code (Jazzcharles/OVSegmentor: models/group_vit.py, models/multi_label_contrastive.py,
models/transformer.py with Hugging Face BertModel). It is the reference the C model is checked
against, tensor by tensor. State-dict names, order and shapes are those of the paper's
`MultiLabelContrastive` (stage 1, use_entityloss=True, dino-initialised GroupViT: pos_embed [P, C]).

Differences from the paper's code, all for testability (none changes the maths):
- Gumbel noise is an input (`gumbel` [B, K, P]) so C and twin use the same draws.
- Dropout in BERT is off (the paper keeps HF's 0.1 hidden/attention dropout in train mode).
- Drop-path: `drop_masks` (per block, per sample keep/scale factors) is an input; None = off.
- No distributed gather (one process: the global batch is the local batch).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ── configurations ─────────────────────────────────────────────────────────────────────────────
PRESETS = {
    # the paper: ViT-B/16 at 224, depths [6,6], 8 heads, 64 -> 8 groups; bert-base-uncased
    "paper": dict(img_size=224, patch=16, width=768, heads=8, depth0=6, depth1=6, groups_in=64,
                  groups_out=8, mlp_ratio=4, vocab=30522, text_len=77, text_width=768, text_heads=12,
                  text_layers=12, text_ff=3072, type_vocab=2, max_pos=512, proj_hidden=4096,
                  proj_out=256, mem_layers=1, mem_heads=8),
    # a small model for a 2-core CPU
    "tiny": dict(img_size=64, patch=8, width=128, heads=4, depth0=2, depth1=1, groups_in=16,
                 groups_out=8, mlp_ratio=4, vocab=30522, text_len=32, text_width=128, text_heads=4,
                 text_layers=4, text_ff=512, type_vocab=2, max_pos=512, proj_hidden=1024,
                 proj_out=256, mem_layers=1, mem_heads=8),
}


class Cfg:
    def __init__(self, name="tiny", **over):
        d = dict(PRESETS[name])
        d.update(over)
        self.__dict__.update(d)


# ── GroupViT pieces (names as in models/group_vit.py) ─────────────────────────────────────────
class Mlp(nn.Module):
    def __init__(self, cin, hidden, cout):
        super().__init__()
        self.fc1 = nn.Linear(cin, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, cout)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head attention; fused qkv (self-attention) or separate q/k/v projections."""

    def __init__(self, dim, heads, fuse):
        super().__init__()
        self.heads, self.fuse, self.scale = heads, fuse, (dim // heads) ** -0.5
        if fuse:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q_proj = nn.Linear(dim, dim)
            self.k_proj = nn.Linear(dim, dim)
            self.v_proj = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, q_in, kv_in=None):
        B, N, C = q_in.shape
        h = self.heads
        if self.fuse:
            qkv = self.qkv(q_in).reshape(B, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            S = kv_in.shape[1]
            q = self.q_proj(q_in).reshape(B, N, h, C // h).transpose(1, 2)
            k = self.k_proj(kv_in).reshape(B, S, h, C // h).transpose(1, 2)
            v = self.v_proj(kv_in).reshape(B, S, h, C // h).transpose(1, 2)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(out)


def drop_path(x, scale):
    """scale: [B] per-sample factor (0 or 1/keep) or None."""
    return x if scale is None else x * scale.view(-1, 1, 1)


class AttnBlock(nn.Module):
    """Pre-LN transformer block with fused qkv."""

    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, fuse=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio, dim)

    def forward(self, x, dp=None):
        x = x + drop_path(self.attn(self.norm1(x)), dp)
        return x + drop_path(self.mlp(self.norm2(x)), dp)


class CrossAttnBlock(nn.Module):
    """Post-norm cross-attention block (post_norm=True in the paper's code: norm_q/norm_k identity)."""

    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.norm_post = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, fuse=False)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio, dim)

    def forward(self, query, key):
        x = query + self.attn(query, key)
        x = x + self.mlp(self.norm2(x))
        return self.norm_post(x)


class AssignAttention(nn.Module):
    """1-head assignment of patches to groups: softmax over the GROUP axis, Gumbel (tau 1) + hard
    straight-through when training, hard argmax straight-through at eval; / (sum over patches + 1)."""

    def __init__(self, dim):
        super().__init__()
        self.scale = dim ** -0.5
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, query, key, gumbel=None):
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(key)
        raw = (q @ k.transpose(-2, -1)) * self.scale            # [B, K, P]
        logits = raw + gumbel if (self.training and gumbel is not None) else raw
        soft = logits.softmax(dim=-2)
        index = soft.max(dim=-2, keepdim=True)[1]
        hard = torch.zeros_like(soft).scatter_(-2, index, 1.0)
        attn = hard - soft.detach() + soft
        out = attn / (attn.sum(dim=-1, keepdim=True) + 1.0)
        out = self.proj(out @ v)
        info = dict(raw=raw, q=q, k=k, hard=hard, soft=raw.softmax(dim=-2))
        return out, info


class GroupingBlock(nn.Module):
    def __init__(self, dim, heads, g_in, g_out):
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.mlp_inter = Mlp(g_in, dim // 2, g_out)
        self.norm_post_tokens = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.pre_assign_attn = CrossAttnBlock(dim, heads)
        self.assign = AssignAttention(dim)
        self.norm_new_x = nn.LayerNorm(dim)
        self.mlp_channels = Mlp(dim, 4 * dim, dim)

    def forward(self, x, g, gumbel=None):
        g = self.norm_tokens(g)
        x = self.norm_x(x)
        p = self.norm_post_tokens(self.mlp_inter(g.transpose(1, 2)).transpose(1, 2))
        p = self.pre_assign_attn(p, x)
        new, info = self.assign(p, x, gumbel)
        new = new + p
        new = new + self.mlp_channels(self.norm_new_x(new))
        return new, info


class GroupingLayer(nn.Module):
    def __init__(self, dim, heads, depth, g_in, g_out, mlp_ratio):
        super().__init__()
        if g_in > 0:
            self.group_token = nn.Parameter(torch.zeros(1, g_in, dim))
            nn.init.trunc_normal_(self.group_token, std=.02)
        else:
            self.group_token = None
        self.blocks = nn.ModuleList([AttnBlock(dim, heads, mlp_ratio) for _ in range(depth)])
        self.downsample = GroupingBlock(dim, heads, g_in, g_out) if g_in > 0 else None


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


def interpolate_pos(pos, h, w):
    """Bicubic resize of the [N, C] learned position embedding to an h x w grid (test time)."""
    n, c = pos.shape
    s = int(math.isqrt(n))
    if s * s == h * w and h == w:
        return pos
    p = pos.reshape(1, s, s, c).permute(0, 3, 1, 2)
    p = F.interpolate(p, size=(h, w), mode="bicubic", align_corners=False)
    return p.permute(0, 2, 3, 1).reshape(h * w, c)


class GroupViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        C, P = cfg.width, (cfg.img_size // cfg.patch) ** 2
        self.pos_embed = nn.Parameter(torch.zeros(P, C))
        nn.init.trunc_normal_(self.pos_embed, std=.02)
        self.patch_embed = PatchEmbed(cfg.patch, C)
        self.layers = nn.ModuleList([
            GroupingLayer(C, cfg.heads, cfg.depth0, cfg.groups_in, cfg.groups_out, cfg.mlp_ratio),
            GroupingLayer(C, cfg.heads, cfg.depth1, 0, 0, cfg.mlp_ratio)])
        self.norm = nn.LayerNorm(C)
        self.apply(_init_vit)

    def forward(self, img, gumbel=None, drop_masks=None):
        """Returns (image_x [B,C] = mean of groups, feat [B,K,C], assign info)."""
        x = self.patch_embed.proj(img)
        h, w = x.shape[2:]
        x = x.flatten(2).transpose(1, 2)
        x = x + (self.pos_embed if self.training else interpolate_pos(self.pos_embed, h, w))
        l0, l1 = self.layers
        P = x.shape[1]
        cat = torch.cat([x, l0.group_token.expand(x.shape[0], -1, -1)], dim=1)
        dm = drop_masks or [None] * (len(l0.blocks) + len(l1.blocks))
        for i, blk in enumerate(l0.blocks):
            cat = blk(cat, dm[i])
        x, info = l0.downsample(cat[:, :P], cat[:, P:], gumbel)
        for i, blk in enumerate(l1.blocks):
            x = blk(x, dm[len(l0.blocks) + i])
        feat = self.norm(x)
        info["hw"] = (h, w)
        return feat.mean(dim=1), feat, info


def _init_vit(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


# ── BERT (Hugging Face BertModel names; post-LN, eps 1e-12, GELU erf) ─────────────────────────
class _Lin(nn.Module):
    def __init__(self, cin, cout, ln=None):
        super().__init__()
        self.dense = nn.Linear(cin, cout)
        if ln:
            self.LayerNorm = nn.LayerNorm(cout, eps=1e-12)


class _SelfAttn(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)


class _BertAttention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.self = _SelfAttn(d)
        self.output = _Lin(d, d, ln=True)


class BertLayer(nn.Module):
    def __init__(self, d, ff, heads):
        super().__init__()
        self.heads = heads
        self.attention = _BertAttention(d)
        self.intermediate = _Lin(d, ff)
        self.output = _Lin(ff, d, ln=True)

    def forward(self, x, add_mask):
        B, L, C = x.shape
        h = self.heads
        sa = self.attention.self
        q = sa.query(x).view(B, L, h, C // h).transpose(1, 2)
        k = sa.key(x).view(B, L, h, C // h).transpose(1, 2)
        v = sa.value(x).view(B, L, h, C // h).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(C // h) + add_mask
        ctx = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, L, C)
        ao = self.attention.output
        x = ao.LayerNorm(ao.dense(ctx) + x)
        i = F.gelu(self.intermediate.dense(x))
        return self.output.LayerNorm(self.output.dense(i) + x)


class _Emb(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.text_width
        self.word_embeddings = nn.Embedding(cfg.vocab, d, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_pos, d)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)


class _Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg.text_width, cfg.text_ff, cfg.text_heads)
                                    for _ in range(cfg.text_layers)])


class _Pooler(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.dense = nn.Linear(d, d)


class BertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = _Emb(cfg)
        self.encoder = _Encoder(cfg)
        self.pooler = _Pooler(cfg.text_width)
        self.apply(_init_bert)

    def forward(self, ids, mask):
        """ids, mask: [B, L] -> last hidden state [B, L, C] (token type 0, positions 0..L-1)."""
        e = self.embeddings
        L = ids.shape[1]
        x = e.word_embeddings(ids) + e.position_embeddings.weight[:L] + e.token_type_embeddings.weight[0]
        x = e.LayerNorm(x)
        add = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.encoder.layer:
            x = layer(x, add)
        return x


def _init_bert(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, std=.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, std=.02)
        if m.padding_idx is not None:
            with torch.no_grad():
                m.weight[m.padding_idx].zero_()
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class Bert(nn.Module):
    """models/transformer.py `Bert`: self.transformer is the BertModel."""

    def __init__(self, cfg):
        super().__init__()
        self.transformer = BertModel(cfg)


# ── heads and the masked-entity decoder (models/multi_label_contrastive.py) ──────────────────
class ProjectMLP(nn.Module):
    def __init__(self, cin, hidden, cout):
        super().__init__()
        self.linear_hidden = nn.Sequential(nn.Conv1d(cin, hidden, 1), nn.BatchNorm1d(hidden), nn.ReLU())
        self.linear_out = nn.Conv1d(hidden, cout, 1)

    def forward(self, x):
        """x: [B, C] or [B, L, C]; BatchNorm statistics over B (and L)."""
        two = x.ndim == 2
        if two:
            x = x.unsqueeze(1)
        x = self.linear_out(self.linear_hidden(x.transpose(1, 2))).transpose(1, 2)
        return x.squeeze(1) if two else x


class MultimodalGroupingBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.pre_assign_attn = CrossAttnBlock(dim, heads)
        self.post_attn = AttnBlock(dim, heads)
        self.assign = AssignAttention(dim)   # built but unused by the paper's forward
        self.norm_new_x = nn.LayerNorm(dim)

    def forward(self, ans, visual, text):
        text = self.norm_tokens(text)
        visual = self.norm_x(visual)
        p = self.pre_assign_attn(text, visual)
        t = p if ans is None else ans + p
        new = self.post_attn(t) + p
        return self.norm_new_x(new)


class MultimodalGroupingNetwork(nn.Module):
    def __init__(self, dim, heads, layers):
        super().__init__()
        self.blocks = nn.ModuleList([MultimodalGroupingBlock(dim, heads) for _ in range(layers)])

    def forward(self, visual, text):
        ans = None
        for blk in self.blocks:
            ans = blk(ans, visual, text)
        return ans[:, 0]


def _init_mmg(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=.02)
        nn.init.zeros_(m.bias)


class MultiLabelContrastive(nn.Module):
    """Stage 1: L = contrastive(image, caption) + 1.0 * contrastive(question decoder, answer)."""

    def __init__(self, cfg):
        super().__init__()
        assert cfg.width == cfg.text_width, "align_proj_* not modelled: widths must match"
        self.cfg = cfg
        self.img_encoder = GroupViT(cfg)
        self.text_encoder = Bert(cfg)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        self.img_projector = ProjectMLP(cfg.width, cfg.proj_hidden, cfg.proj_out)
        self.text_projector = ProjectMLP(cfg.text_width, cfg.proj_hidden, cfg.proj_out)
        self.multimodal_groupingblock = MultimodalGroupingNetwork(cfg.width, cfg.mem_heads, cfg.mem_layers)
        self.multimodal_groupingblock.apply(_init_mmg)
        self.bridge_projector = ProjectMLP(cfg.width, cfg.proj_hidden, cfg.proj_out)

    def contrastive(self, a, b):
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        s = torch.clamp(self.logit_scale.exp(), max=100)
        labels = torch.arange(a.shape[0])
        return 0.5 * (F.cross_entropy(s * a @ b.t(), labels) + F.cross_entropy(s * b @ a.t(), labels))

    def encode_text(self, ids, mask):
        """As the paper's encode_text in train mode: [CLS] projected; the all-token projection
        only moves the BatchNorm running statistics. Returns (cls [B,C], all [B,L,C], proj [B,D])."""
        all_tok = self.text_encoder.transformer(ids, mask)
        cls = all_tok[:, 0]
        proj = self.text_projector(cls)
        if self.training:
            with torch.no_grad():
                self.text_projector(all_tok)
        return cls, all_tok, proj

    def forward_train(self, batch, gumbel, drop_masks=None):
        """batch: dict of img, ids, mask, q_ids, q_mask, a_ids, a_mask. Returns dict of tensors."""
        o = {}
        o["text_cls"], _, o["text_proj"] = self.encode_text(batch["ids"], batch["mask"])
        o["image_x"], o["feat"], info = self.img_encoder(batch["img"], gumbel, drop_masks)
        o["img_proj"] = self.img_projector(o["image_x"])
        with torch.no_grad():
            self.img_projector(o["feat"])      # image_feat: running statistics only in stage 1
        o["assign_raw"], o["assign_hard"] = info["raw"], info["hard"]
        o["loss_contrastive"] = self.contrastive(o["img_proj"], o["text_proj"])
        _, q_all, _ = self.encode_text(batch["q_ids"], batch["q_mask"])
        o["q_all"] = q_all
        o["a_cls"], _, o["a_proj"] = self.encode_text(batch["a_ids"], batch["a_mask"])
        o["mec_answer"] = self.multimodal_groupingblock(o["feat"], q_all)
        o["bridge_out"] = self.bridge_projector(o["mec_answer"])
        o["loss_entity"] = self.contrastive(o["bridge_out"], o["a_proj"])
        o["loss_total"] = o["loss_contrastive"] + 1.0 * o["loss_entity"]
        return o

    @torch.no_grad()
    def encode_image_eval(self, img):
        """Eval mode: (image_x proj+norm [B,D], groups proj+norm [B,K,D], hard [B,K,h*w], raw [B,K,h*w])."""
        image_x, feat, info = self.img_encoder(img)
        gx = F.normalize(self.img_projector(image_x), dim=-1)
        gf = F.normalize(self.img_projector(feat), dim=-1)
        return gx, gf, info["hard"], info["raw"], info["hw"]

    @torch.no_grad()
    def encode_text_eval(self, ids, mask):
        cls = self.text_encoder.transformer(ids, mask)[:, 0]
        return F.normalize(self.text_projector(cls), dim=-1)
