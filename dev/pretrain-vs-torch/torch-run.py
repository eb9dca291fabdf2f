# The book's GPTModel in PyTorch, started from gptkit's initial weights and batch order, dropout 0.1, AdamW.
import torch, torch.nn as nn, json, struct, numpy as np, sys
torch.manual_seed(0)
def load(path):
    b=open(path,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); out={}
    for k,v in h.items():
        if k=='__metadata__': continue
        s,t=v['data_offsets']; out[k]=torch.from_numpy(np.frombuffer(b[8+n+s:8+n+t],dtype=np.float32).reshape(v['shape']).copy())
    return out
class LN(nn.Module):
    def __init__(s,d): super().__init__(); s.eps=1e-5; s.scale=nn.Parameter(torch.ones(d)); s.shift=nn.Parameter(torch.zeros(d))
    def forward(s,x): m=x.mean(-1,keepdim=True); v=x.var(-1,keepdim=True,unbiased=False); return s.scale*(x-m)/torch.sqrt(v+s.eps)+s.shift
class GELU(nn.Module):
    def forward(s,x): return 0.5*x*(1+torch.tanh(torch.sqrt(torch.tensor(2.0/torch.pi))*(x+0.044715*x**3)))
class MHA(nn.Module):
    def __init__(s,d,T,drop,H):
        super().__init__(); s.H=H; s.hd=d//H
        s.W_query=nn.Linear(d,d,bias=False); s.W_key=nn.Linear(d,d,bias=False); s.W_value=nn.Linear(d,d,bias=False)
        s.out_proj=nn.Linear(d,d); s.dropout=nn.Dropout(drop); s.register_buffer('mask',torch.triu(torch.ones(T,T),1))
    def forward(s,x):
        b,T,d=x.shape
        k=s.W_key(x).view(b,T,s.H,s.hd).transpose(1,2); q=s.W_query(x).view(b,T,s.H,s.hd).transpose(1,2); v=s.W_value(x).view(b,T,s.H,s.hd).transpose(1,2)
        a=q@k.transpose(2,3); a.masked_fill_(s.mask.bool()[:T,:T],-torch.inf)
        w=torch.softmax(a/k.shape[-1]**0.5,-1); w=s.dropout(w)
        return s.out_proj((w@v).transpose(1,2).contiguous().view(b,T,d))
class FF(nn.Module):
    def __init__(s,d): super().__init__(); s.layers=nn.Sequential(nn.Linear(d,4*d),GELU(),nn.Linear(4*d,d))
    def forward(s,x): return s.layers(x)
class Block(nn.Module):
    def __init__(s,d,T,drop,H): super().__init__(); s.att=MHA(d,T,drop,H); s.ff=FF(d); s.norm1=LN(d); s.norm2=LN(d); s.drop_shortcut=nn.Dropout(drop)
    def forward(s,x):
        x=x+s.drop_shortcut(s.att(s.norm1(x))); return x+s.drop_shortcut(s.ff(s.norm2(x)))
class GPT(nn.Module):
    def __init__(s,V=50257,T=256,d=768,L=12,H=12,drop=0.1):
        super().__init__(); s.tok_emb=nn.Embedding(V,d); s.pos_emb=nn.Embedding(T,d); s.drop_emb=nn.Dropout(drop)
        s.trf_blocks=nn.Sequential(*[Block(d,T,drop,H) for _ in range(L)]); s.final_norm=LN(d); s.out_head=nn.Linear(d,V,bias=False)
    def forward(s,i):
        T=i.shape[1]; x=s.drop_emb(s.tok_emb(i)+s.pos_emb(torch.arange(T)))
        return s.out_head(s.final_norm(s.trf_blocks(x)))
torch.set_num_threads(2)
drop=float(sys.argv[1]) if len(sys.argv)>1 else 0.1
m=GPT(drop=drop); print(m.load_state_dict(load('init.safetensors'),strict=False)); m.train()
opt=torch.optim.AdamW(m.parameters(),lr=4e-4,weight_decay=0.1)
B=json.load(open('batches.json'))
for step,b in enumerate(B[:int(sys.argv[2]) if len(sys.argv)>2 else 22]):
    x=torch.tensor(b['inputs']).view(2,256); y=torch.tensor(b['targets']).view(2,256)
    opt.zero_grad(); loss=torch.nn.functional.cross_entropy(m(x).flatten(0,1),y.flatten()); loss.backward()
    gn=torch.sqrt(sum((p.grad**2).sum() for p in m.parameters())).item()
    opt.step(); print(step, round(loss.item(),4), 'gradnorm', round(gn,3), flush=True)
