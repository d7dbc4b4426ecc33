-- man-tables.lua: pandoc filter for the man pages (scripts/lib/build-man). Tables with long
-- cells do not fit an 80-column terminal (tbl: "table wider than line width"), so each table
-- becomes a list of tagged paragraphs: the first column is the tag; the middle columns follow
-- as "header: value" pairs; the last column is the text.
local function inlines(cell)
  local out = pandoc.List()
  for _, block in ipairs(cell.contents) do
    if block.content then out:extend(block.content) end
  end
  return out
end

function Table(t)
  local head = t.head.rows[1] and t.head.rows[1].cells or {}
  local items = pandoc.List()
  for _, body in ipairs(t.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local term = inlines(cells[1])
      local facts = pandoc.List()
      for i = 2, #cells - 1 do
        local v = inlines(cells[i])
        if #v > 0 then
          if #facts > 0 then facts:insert(pandoc.Str(";")); facts:insert(pandoc.Space()) end
          if head[i] then
            facts:insert(pandoc.Emph(inlines(head[i])))
            facts:insert(pandoc.Str(":")); facts:insert(pandoc.Space())
          end
          facts:extend(v)
        end
      end
      local def = pandoc.List()
      if #facts > 0 then def:insert(pandoc.Para(facts)) end
      if #cells > 1 then
        local last = inlines(cells[#cells])
        if #last > 0 then def:insert(pandoc.Para(last)) end
      end
      items:insert({term, {def}})
    end
  end
  return pandoc.DefinitionList(items)
end

-- A long inline literal (a JSON example) cannot be broken by troff ("cannot adjust line"):
-- let it break after its commas (\: is an invisible break point).
function Code(c)
  if FORMAT ~= "man" or #c.text <= 40 then return nil end
  local t = c.text:gsub("\\", "\\e"):gsub('"', "\\[dq]"):gsub("'", "\\[aq]"):gsub(",", ",\\:")
  return pandoc.RawInline("man", "\\f[V]" .. t .. "\\f[R]")
end

-- Ragged right (.ad l) instead of justified text: a line holding only such a literal cannot be
-- stretched to the margin, and man --warnings would say so.
function Pandoc(doc)
  if FORMAT == "man" then doc.blocks:insert(1, pandoc.RawBlock("man", ".ad l")) end
  return doc
end
